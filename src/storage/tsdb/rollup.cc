#include "storage/tsdb/rollup.h"

#include <algorithm>
#include <cmath>

#include "storage/codec/chunk_decoder.h"
#include "storage/codec/chunk_encoder.h"
#include "storage/codec/chunk_format.h"

namespace fp::tsdb {
namespace {

constexpr int kOldColumns = 6;    // min max sum count first last
constexpr int kTimedColumns = 8;  // ... first_ts last_ts (as offsets from the bucket start)
constexpr int kColumns = 9;       // ... integral (1 or 0)

int64_t floor_to(int64_t ts, int64_t width) {
  int64_t q = ts / width;
  if (ts % width < 0) --q;
  return q * width;
}

double column(const RollupBucket& b, int c) {
  switch (c) {
    case 0:
      return b.min;
    case 1:
      return b.max;
    case 2:
      return b.sum;
    case 3:
      return static_cast<double>(b.count);
    case 4:
      return b.first;
    case 5:
      return b.last;
    case 6:
      return static_cast<double>(b.first_ts - b.start);
    case 7:
      return static_cast<double>(b.last_ts - b.start);
    default:
      return b.integral ? 1 : 0;
  }
}

}  // namespace

std::vector<RollupBucket> build_rollups(std::span<const Sample> samples, int64_t width_ms) {
  std::vector<RollupBucket> out;
  for (const Sample& s : samples) {
    const int64_t b = floor_to(s.ts, width_ms);
    if (out.empty() || out.back().start != b) {
      RollupBucket r;
      r.start = b;
      r.min = r.max = r.first = s.value;
      r.first_ts = s.ts;
      r.has_times = true;
      r.integral = r.has_integral = true;
      out.push_back(r);
    }
    RollupBucket& r = out.back();
    if (!(std::isfinite(s.value) && s.value == std::trunc(s.value))) r.integral = false;
    if (s.value < r.min) r.min = s.value;
    if (s.value > r.max) r.max = s.value;
    r.sum += s.value;
    ++r.count;
    r.last = s.value;
    r.last_ts = s.ts;
  }
  return out;
}

std::string encode_rollups(std::span<const RollupBucket> buckets) {
  std::string out;
  codec::ChunkEncoder enc;
  // Buckets decoded from an older payload are written as they were read.
  const bool times = std::all_of(buckets.begin(), buckets.end(),
                                 [](const RollupBucket& b) { return b.has_times; });
  const bool integral = times && std::all_of(buckets.begin(), buckets.end(),
                                             [](const RollupBucket& b) { return b.has_integral; });
  for (int c = 0; c < (integral ? kColumns : times ? kTimedColumns : kOldColumns); ++c) {
    enc.clear();
    for (const RollupBucket& b : buckets) enc.append(b.start, column(b, c));
    const std::string chunk = enc.finish();
    codec::put_uvarint(&out, chunk.size());
    out.append(chunk);
  }
  return out;
}

Result<std::vector<RollupBucket>> decode_rollups(std::string_view payload) {
  std::vector<RollupBucket> out;
  const auto* p = reinterpret_cast<const uint8_t*>(payload.data());
  const auto* end = p + payload.size();
  for (int c = 0; c < kColumns; ++c) {
    if ((c == kOldColumns || c == kTimedColumns) && p == end) return out;  // an older payload
    uint64_t len;
    if (!codec::get_uvarint(&p, end, &len) || len > static_cast<uint64_t>(end - p))
      return Status::Corruption("rollup: truncated column");
    FP_ASSIGN_OR_RETURN(auto points, codec::decode_chunk({reinterpret_cast<const char*>(p), len}));
    p += len;
    if (c == 0) {
      out.resize(points.size());
      for (size_t i = 0; i < points.size(); ++i) out[i].start = points[i].first;
    } else if (points.size() != out.size()) {
      return Status::Corruption("rollup: columns of different lengths");
    }
    for (size_t i = 0; i < points.size(); ++i) {
      if (points[i].first != out[i].start) return Status::Corruption("rollup: columns disagree");
      const double v = points[i].second;
      switch (c) {
        case 0:
          out[i].min = v;
          break;
        case 1:
          out[i].max = v;
          break;
        case 2:
          out[i].sum = v;
          break;
        case 3:
          out[i].count = v >= 0 && v < 1.8e19 ? static_cast<uint64_t>(v) : 0;
          break;
        case 4:
          out[i].first = v;
          break;
        case 5:
          out[i].last = v;
          break;
        case 8:
          if (v != 0 && v != 1) return Status::Corruption("rollup: bad integral flag");
          out[i].integral = v == 1;
          out[i].has_integral = true;
          break;
        default: {
          // An offset in [0, 2^53): exact as a double; anything else is damage.
          if (!(v >= 0 && v < 9.007e15) || v != static_cast<double>(static_cast<int64_t>(v)))
            return Status::Corruption("rollup: bad sample timestamp");
          int64_t ts;
          if (__builtin_add_overflow(out[i].start, static_cast<int64_t>(v), &ts))
            return Status::Corruption("rollup: bad sample timestamp");
          if (c == 6) {
            out[i].first_ts = ts;
          } else {
            if (ts < out[i].first_ts) return Status::Corruption("rollup: last before first");
            out[i].last_ts = ts;
            out[i].has_times = true;
          }
        }
      }
    }
  }
  if (p != end) return Status::Corruption("rollup: trailing bytes");
  return out;
}

}  // namespace fp::tsdb
