#pragma once
// Rollups: per-bucket summaries (min, max, sum, count, first, last, and the timestamps of the
// first and last sample) of a series, kept in their own blocks so long-range aggregates read
// buckets instead of raw points, and PromQL's instant selectors at bucket-aligned steps read
// each bucket's first and last sample instead of all of them. A rollup payload is nine codec
// chunks, one per column, each with the bucket starts as timestamps (regular, so they cost
// about a bit each); payloads written before the two timestamp columns existed have six, and
// before the `integral` column eight, and still decode (has_times / has_integral false) — see
// docs/formats/block.md.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storage/tsdb/head.h"
#include "util/result.h"

namespace fp::tsdb {

struct RollupBucket {
  int64_t start = 0;  // ms, a multiple of the width
  double min = 0, max = 0, sum = 0;
  uint64_t count = 0;
  double first = 0, last = 0;
  // The first and last sample's timestamps (ms, in [start, start + width)); meaningful only
  // when has_times (false for six-column payloads written before they were kept).
  int64_t first_ts = 0, last_ts = 0;
  bool has_times = false;
  // Every sample is an integer (finite, no fraction): sums of such samples are exact while
  // their magnitudes add up to at most 2^53, in any order. Meaningful only when has_integral
  // (false for payloads written before it was kept).
  bool integral = false;
  bool has_integral = false;
};

// Buckets of `width_ms` over `samples` (ascending by ts), only those with data.
std::vector<RollupBucket> build_rollups(std::span<const Sample> samples, int64_t width_ms);

std::string encode_rollups(std::span<const RollupBucket> buckets);
// Six-column (older) or eight-column payloads. kCorruption when the payload is malformed, its
// columns disagree, or a sample timestamp lies before its bucket or out of order.
Result<std::vector<RollupBucket>> decode_rollups(std::string_view payload);

}  // namespace fp::tsdb
