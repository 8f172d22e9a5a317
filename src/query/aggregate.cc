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
  store.scan(id, start, end, [&](const tsdb::Sample& s) {
    const int64_t b = bucket_start(s.ts, interval);
    if (out.empty() || out.back().start != b) {
      if (out.size() == max_buckets) {
        too_many = true;
        return;
      }
      out.emplace_back();
      out.back().start = b;
    }
    out.back().add(s.ts, s.value);
  });
  if (too_many)
    return Status::InvalidArgument("more than " + std::to_string(max_buckets) +
                                   " buckets: use a larger interval or a shorter range");
  return out;
}

}  // namespace fp::query
