// Fuzzes what the dispatcher decodes before any handler: gzip request bodies (any bytes must
// give a body no larger than the bound, kTooLarge or kMalformed, never a crash or an
// allocation beyond the bound; a body gzip-compressed by zlib must come back byte for byte)
// and the credential forms of the Authorization header (Token, Basic base64, Bearer).
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/api_dispatcher.h"
#include "http/content_encoding.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

std::string gzip_of(std::string_view in) {
  z_stream zs{};
  check(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                     Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&zs, in.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  check(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t bound = (static_cast<size_t>(data[0]) + 1) * 4096;  // 4 KiB .. 1 MiB
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);

  auto raw = fp::http::gunzip(in, bound);
  if (raw.ok())
    check(raw->size() <= bound);
  else
    check(raw.status().code() == fp::StatusCode::kTooLarge ||
          raw.status().code() == fp::StatusCode::kMalformed);

  auto round = fp::http::gunzip(gzip_of(in), bound);
  if (in.size() <= bound)
    check(round.ok() && *round == in);
  else
    check(!round.ok() && round.status().code() == fp::StatusCode::kTooLarge);

  fp::http::Request req;
  for (std::string_view scheme : {"Token ", "Basic ", "Bearer ", ""}) {
    req.authorization = std::string(scheme) + std::string(in);
    const std::string a = fp::http::normalized_authorization(req, true);
    check(a.empty() || a.rfind("Bearer ", 0) == 0 || scheme.empty());
  }
  return 0;
}
