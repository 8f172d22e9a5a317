#pragma once
// Rollups: per-bucket summaries (min, max, sum, count, first, last) of a series, kept in
// their own blocks so long-range aggregates read buckets instead of raw points. A rollup
// payload is six codec chunks, one per column, each with the bucket starts as timestamps
// (regular, so they cost about a bit each) — see docs/formats/block.md.

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
};

// Buckets of `width_ms` over `samples` (ascending by ts), only those with data.
std::vector<RollupBucket> build_rollups(std::span<const Sample> samples, int64_t width_ms);

std::string encode_rollups(std::span<const RollupBucket> buckets);
// kCorruption when the payload is malformed or its columns disagree.
Result<std::vector<RollupBucket>> decode_rollups(std::string_view payload);

}  // namespace fp::tsdb
