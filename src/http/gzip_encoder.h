#pragma once
// Response bodies compressed with gzip for clients that send `Accept-Encoding: gzip` (Grafana's
// Prometheus data source does, as Prometheus answers them): a streaming deflate fed piece by
// piece, so a large answer is never held uncompressed.

#include <zlib.h>

#include <string>
#include <string_view>

namespace fp::http {

// True when `accept_encoding` (the request's Accept-Encoding) lists gzip with a non-zero q.
bool accepts_gzip(std::string_view accept_encoding);

// Appends the gzip (RFC 1952) encoding of everything add()ed, then finish()ed, to `out`.
// zlib's fastest level: the answer is JSON, which compresses ~10× even so. Not thread-safe.
class GzipEncoder {
 public:
  explicit GzipEncoder(std::string& out);
  ~GzipEncoder();
  GzipEncoder(const GzipEncoder&) = delete;
  GzipEncoder& operator=(const GzipEncoder&) = delete;

  void add(std::string_view data);
  // Writes the trailer; nothing may be added after.
  void finish();

 private:
  void deflate_all(int flush);

  std::string& out_;
  z_stream zs_{};
};

}  // namespace fp::http
