#pragma once
// Bucketed aggregates of one series or many: min, max, sum, count, avg, first, last per
// time bucket aligned to the Unix epoch (a 1h bucket starts on the hour, UTC).

#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include "storage/tsdb/time_series_store.h"
#include "util/result.h"

namespace fp::query {

enum AggregateKind : uint8_t {
  kMin = 1 << 0,
  kMax = 1 << 1,
  kSum = 1 << 2,
  kCount = 1 << 3,
  kAvg = 1 << 4,
  kFirst = 1 << 5,
  kLast = 1 << 6,
};
inline constexpr uint8_t kDefaultAggregates = kMin | kMax | kAvg | kSum | kCount;

// "min,max,avg" -> bit set; kInvalidArgument naming the bad item.
Result<uint8_t> parse_aggregates(std::string_view list);

struct Bucket {
  int64_t start = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  double sum = 0;
  uint64_t count = 0;
  int64_t first_ts = std::numeric_limits<int64_t>::max();
  double first = 0;
  int64_t last_ts = std::numeric_limits<int64_t>::min();
  double last = 0;

  void add(int64_t ts, double v) {
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    ++count;
    if (ts < first_ts) first_ts = ts, first = v;
    if (ts >= last_ts) last_ts = ts, last = v;
  }
  void merge(const Bucket& o) {
    if (o.count == 0) return;
    if (o.min < min) min = o.min;
    if (o.max > max) max = o.max;
    sum += o.sum;
    count += o.count;
    if (o.first_ts < first_ts) first_ts = o.first_ts, first = o.first;
    if (o.last_ts >= last_ts) last_ts = o.last_ts, last = o.last;
  }
};

inline int64_t bucket_start(int64_t ts, int64_t interval) {
  int64_t q = ts / interval;
  if (ts % interval < 0) --q;
  return q * interval;
}

// Buckets of one series over [start, end], only those with data, ascending.
// kInvalidArgument when more than `max_buckets` buckets hold data.
Result<std::vector<Bucket>> aggregate_series(const tsdb::TimeSeriesStore& store, tsdb::SeriesId id,
                                             int64_t start, int64_t end, int64_t interval,
                                             size_t max_buckets = 100'000);

}  // namespace fp::query
