// Fuzzes the chunk codec two ways with every input:
//  1. the bytes as a chunk: the decoder must stop (ok or kCorruption) without reading out of
//     bounds, and never yield more points than the input could hold;
//  2. the bytes as a recipe for points (timestamps and values of every kind): encode them,
//     decode them, and demand the same points back bit for bit;
// and holds_timestamp() (the timestamps alone) must agree with what decoding yields.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/codec/chunk_decoder.h"
#include "storage/codec/chunk_encoder.h"

namespace {

using fp::codec::ChunkDecoder;
using fp::codec::ChunkEncoder;

void check(bool ok, const char* what) {
  if (!ok) {
    __builtin_printf("fuzz_chunk_decoder: %s\n", what);
    std::abort();
  }
}

class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  bool empty() const { return p_ == end_; }
  uint8_t byte() { return p_ < end_ ? *p_++ : 0; }
  uint64_t u64(size_t bytes) {
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; ++i) v = (v << 8) | byte();
    return v;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

constexpr double kPow10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10};

double special(uint8_t k) {
  const double table[] = {0.0,
                          -0.0,
                          std::numeric_limits<double>::infinity(),
                          -std::numeric_limits<double>::infinity(),
                          std::numeric_limits<double>::quiet_NaN(),
                          std::numeric_limits<double>::denorm_min(),
                          std::numeric_limits<double>::max(),
                          9007199254740991.0,
                          4503599627370496.5,
                          0.1 + 0.2};
  return table[k % (sizeof table / sizeof table[0])];
}

void decode_raw(std::string_view bytes) {
  ChunkDecoder decoder(bytes);
  int64_t ts = 0;
  double value = 0;
  uint64_t n = 0;
  bool first = true;
  while (decoder.next(ts, value)) {
    ++n;
    if (first) check(ChunkDecoder(bytes).holds_timestamp(ts), "first point not held");
    first = false;
  }
  if (decoder.status().ok() && n > 0)
    check(ChunkDecoder(bytes).holds_timestamp(ts), "last point not held");
  check(n <= bytes.size() * 8 + 1, "more points than the input can hold");
  check(decoder.status().ok() || decoder.status().code() == fp::StatusCode::kCorruption,
        "unexpected status");
  if (decoder.status().ok()) check(n == decoder.count(), "ok but short");
}

void round_trip(const uint8_t* data, size_t size) {
  Cursor in(data, size);
  std::vector<std::pair<int64_t, double>> points;
  uint64_t ts = in.u64(8);
  double value = 0;
  while (!in.empty() && points.size() < 4096) {
    const uint8_t control = in.byte();
    switch (control & 3) {
      case 0:
        ts += in.byte();
        break;
      case 1:
        ts = in.u64(8);
        break;
      case 2:
        break;  // same timestamp
      default:
        ts -= in.u64(2);
        break;
    }
    switch ((control >> 2) & 7) {
      case 0:
        value = std::bit_cast<double>(in.u64(8));
        break;
      case 1:
      case 2: {  // a decimal with up to 10 digits after the point
        const int64_t m = static_cast<int32_t>(in.u64(4));
        value = static_cast<double>(m) / kPow10[in.byte() % 11];
        break;
      }
      case 3: {  // a small step from the previous value at some precision
        const int8_t step = static_cast<int8_t>(in.byte());
        value += step / kPow10[(control >> 5) % 7];
        break;
      }
      case 4:
        value = special(in.byte());
        break;
      case 5: {  // a big integer near 2^53
        value = static_cast<double>((int64_t{1} << 52) + static_cast<int64_t>(in.u64(4)));
        break;
      }
      default:
        break;  // repeat
    }
    points.emplace_back(static_cast<int64_t>(ts), value);
  }

  ChunkEncoder encoder;
  std::string midway;
  const size_t half = points.size() / 2;
  for (size_t i = 0; i < points.size(); ++i) {
    if (i == half) midway = encoder.finish();
    encoder.append(points[i].first, points[i].second);
  }
  check(encoder.count() == points.size(), "count");
  const std::string chunk = encoder.finish();

  auto decoded = fp::codec::decode_chunk(chunk);
  check(decoded.ok(), "own chunk does not decode");
  check(decoded->size() == points.size(), "point count differs");
  for (size_t i = 0; i < points.size(); ++i) {
    check((*decoded)[i].first == points[i].first, "timestamp differs");
    check(
        std::bit_cast<uint64_t>((*decoded)[i].second) == std::bit_cast<uint64_t>(points[i].second),
        "value differs");
  }
  ChunkDecoder holder(chunk);
  for (size_t i = 0; i < points.size(); i += 1 + points.size() / 16)
    check(holder.holds_timestamp(points[i].first), "a point's timestamp not held");
  // A chunk taken midway decodes to the prefix appended by then.
  auto prefix = fp::codec::decode_chunk(midway.empty() ? encoder.finish() : midway);
  check(prefix.ok(), "midway chunk does not decode");
  for (size_t i = 0; i < prefix->size() && i < points.size(); ++i) {
    check((*prefix)[i].first == points[i].first, "midway timestamp differs");
  }
  // Every proper prefix of the bytes is corrupt, never a crash.
  if (!chunk.empty()) decode_raw(std::string_view(chunk).substr(0, (size * 7919) % chunk.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Own copy, so ASan catches a read one past the end.
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  decode_raw(bytes);
  round_trip(data, size);
  return 0;
}
