#include "http/content_encoding.h"

#include <zlib.h>

#include <memory>

namespace fp::http {

Result<std::string> gunzip(std::string_view in, size_t max_bytes) {
  if (in.size() > UINT32_MAX) return Status(StatusCode::kTooLarge, "gzip body too large");
  z_stream zs{};
  // 16 + MAX_WBITS: a gzip wrapper (header and CRC-32/length trailer) around deflate data.
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return Status::Internal("zlib init failed");
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, inflateEnd);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  constexpr size_t kChunk = 64 * 1024;
  for (;;) {
    const size_t before = out.size();
    out.resize(before + kChunk);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + before);
    zs.avail_out = static_cast<uInt>(kChunk);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    out.resize(before + (kChunk - zs.avail_out));
    if (out.size() > max_bytes)
      return Status(StatusCode::kTooLarge, "the gzip body inflates to more than the limit of " +
                                               std::to_string(max_bytes) + " bytes");
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0) return out;
      // Another member follows (concatenated gzip files).
      if (inflateReset(&zs) != Z_OK) return Status::Internal("zlib reset failed");
      continue;
    }
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && zs.avail_in == 0)
      return Status::Malformed("the gzip body is truncated");
    return Status::Malformed(std::string("the gzip body is not valid: ") +
                             (zs.msg ? zs.msg : "inflate failed"));
  }
}

}  // namespace fp::http
