#include "query/aggregate.h"

#include <map>

namespace fp::query {

Result<uint8_t> parse_aggregates(std::string_view list) {
  uint8_t bits = 0;
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    if (item == "min")
      bits |= kMin;
    else if (item == "max")
      bits |= kMax;
    else if (item == "sum")
      bits |= kSum;
    else if (item == "count")
      bits |= kCount;
    else if (item == "avg" || item == "mean")
      bits |= kAvg;
    else if (item == "first")
      bits |= kFirst;
    else if (item == "last")
      bits |= kLast;
    else if (!item.empty())
      return Status::InvalidArgument("agg: unknown aggregate '" + std::string(item) +
                                     "' (use min, max, avg, sum, count, first, last)");
  }
  return bits ? bits : kDefaultAggregates;
}

Result<std::vector<Bucket>> aggregate_series(const tsdb::TimeSeriesStore& store, tsdb::SeriesId id,
                                             int64_t start, int64_t end, int64_t interval,
                                             size_t max_buckets) {
  if (interval <= 0) return Status::InvalidArgument("interval must be positive");
  std::vector<Bucket> out;
  bool too_many = false;
  // Raw points and rollup buckets arrive in time order; both fold into the output bucket
  // their start falls in (rollups are used only when `interval` is a multiple of theirs).
  auto bucket_for = [&](int64_t ts) -> Bucket* {
    const int64_t b = bucket_start(ts, interval);
    if (out.empty() || out.back().start != b) {
      if (out.size() == max_buckets) {
        too_many = true;
        return nullptr;
      }
      out.emplace_back();
      out.back().start = b;
    }
    return &out.back();
  };
  store.scan_for_aggregate(
      id, start, end, interval,
      [&](const tsdb::Sample& s) {
        if (Bucket* b = bucket_for(s.ts)) b->add(s.ts, s.value);
      },
      [&](const tsdb::RollupBucket& r) {
        Bucket* b = bucket_for(r.start);
        if (!b || r.count == 0) return;
        Bucket part;
        part.min = r.min;
        part.max = r.max;
        part.sum = r.sum;
        part.count = r.count;
        part.first_ts = r.start;
        part.first = r.first;
        part.last_ts = r.start;
        part.last = r.last;
        b->merge(part);
      });
  if (too_many)
    return Status::InvalidArgument("more than " + std::to_string(max_buckets) +
                                   " buckets: use a larger interval or a shorter range");
  return out;
}

}  // namespace fp::query
