#pragma once
// OwnerStream: one streamed HTTP/1.1 request from this node to another node's --advertise URL
// (Boost.Beast client), for the gathered reads whose answer is a stream: the export
// (gather_export.h) and the live stream (gather_sse.h). Open() connects, sends and reads the
// status line and headers within its timeout; Read() then hands over the body piece by piece,
// each wait bounded, so a stopped owner (SIGSTOP) costs a timeout, never a hang. The
// Authorization and Cookie headers of OwnerRequest go along as in owner_http.h.
//
// Thread safety: one OwnerStream is used by one thread at a time.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "cluster/owner_http.h"

namespace fp::cluster {

class OwnerStream {
 public:
  enum class ReadResult {
    kData,     // bytes were appended
    kEnd,      // the body is complete (a streamed body ends when the owner closes)
    kTimeout,  // nothing within the wait; the read stays pending and Read() may be called again
    kError,    // the connection failed
  };

  // Null (and `error` says why) when the owner cannot be reached or sends no status line and
  // headers within `timeout_ms`.
  static std::unique_ptr<OwnerStream> Open(const std::string& host, const std::string& port,
                                           const OwnerRequest& req, int64_t timeout_ms,
                                           std::string& error);
  ~OwnerStream();

  int status() const;
  // The value of a response header, empty when absent.
  std::string header(std::string_view name) const;
  // Appends the next piece of the body to `out`, waiting at most `wait_ms`.
  ReadResult Read(std::string& out, int64_t wait_ms);
  // Reads the whole (short) body, e.g. of an error answer, within `timeout_ms`.
  std::string ReadAll(int64_t timeout_ms);

 private:
  struct Impl;
  explicit OwnerStream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fp::cluster
