// Query latencies of DESIGN.md on the store itself (no HTTP): a fleet of 10k devices x 7
// metrics x 24 h (one point a minute, 100.8 M points) sealed into blocks, plus one series of
// 30 days at 10 s (259 k points) compacted with rollups. Built in a fresh directory under
// TMPDIR with fsync off (filling is not what is measured).
//
//   BM_LatestOfAllDevices       latest value of every series of every device (70 k values),
//                               device by device by name, as the latest endpoints read them
//   BM_LatestOfAllDevices/served  the same plus the per-series damage check the HTTP handler
//                               makes (TimeSeriesStore::missing_data), without the JSON
//   BM_LatestOfAllSeries        the same 70 k values in one pass over the index (no lookup
//                               per device)
//   BM_OneSeriesDay/1           every raw point of one fleet series over its day (1,440, blocks)
//   BM_OneSeriesDay/0           the long series' last day (8,640 points, compacted block)
//   BM_ThirtyDayHourlyAggregate/1  720 hourly buckets of the long series over 30 days (rollups)
//   BM_ThirtyDayHourlyAggregate/0  the same range at a 59 min interval: no rollup fits, raw
//   BM_FindSeries               the ingest threads' id lookup of a 5,000-line batch (35 k points
//                               of 5,000 known devices x 7 metrics), TimeSeriesStore::find_series
//   BM_FleetHourlyAggregate     one metric of all 10k devices over their 24 h, hourly, merged
//                               into one group as /api/v1/aggregates does (rollups)
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "query/aggregate.h"
#include "query/latest_values.h"
#include "storage/fs/posix_file_system.h"
#include "storage/tsdb/time_series_store.h"
#include "util/clock.h"

namespace fp {
namespace {

constexpr int kDevices = 10'000;
constexpr int kMetrics = 7;
constexpr int64_t kMinute = 60'000;
constexpr int64_t kDay = 1440 * kMinute;
constexpr int64_t kT0 = 1'767'225'600'000;  // 2026-01-01T00:00:00Z

const char* const kMetricNames[kMetrics] = {"temperature", "humidity", "pressure", "battery",
                                            "signal",      "co2",      "voc"};

class Fleet {
 public:
  Fleet() : clock_(kT0 + 40 * kDay) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "fp_query_bench_XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir_ = tmpl;
    tsdb::StoreOptions o;
    o.dir = dir_;
    o.fsync = FsyncPolicy::kNone;
    o.max_head_points = 200'000'000;
    o.background = false;
    o.clock = &clock_;
    store_ = std::move(TimeSeriesStoreOrDie(o));
    // The fleet: 24 h at one point a minute, written a minute at a time like live ingest.
    for (int64_t t = kT0 + 10 * kDay; t < kT0 + 11 * kDay; t += 10 * kMinute) {
      ReadingBatch b;
      for (int d = 0; d < kDevices; ++d) {
        const uint32_t dev = b.intern_device("dev-" + std::to_string(d));
        for (int m = 0; m < kMetrics; ++m) {
          const uint32_t met = b.intern_metric(kMetricNames[m]);
          for (int64_t k = 0; k < 10; ++k)
            b.add(dev, met, t + k * kMinute, 20 + ((d * 7 + m + (t / kMinute) + k) % 97) * 0.25);
        }
      }
      commit(b);
      if (store_->over_budget()) std::abort();
    }
    (void)store_->flush_now();
    // One long series: 30 days at 10 s.
    for (int64_t day = 0; day < 30; ++day) {
      ReadingBatch b;
      const uint32_t dev = b.intern_device("long");
      const uint32_t met = b.intern_metric("temperature");
      for (int64_t t = 0; t < kDay; t += 10'000)
        b.add(dev, met, kT0 + day * kDay + t, 15 + ((t / 10'000) % 300) * 0.1);
      commit(b);
    }
    (void)store_->flush_now();
    (void)store_->compact_now();
  }
  ~Fleet() {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  tsdb::TimeSeriesStore& store() { return *store_; }

 private:
  static std::unique_ptr<tsdb::TimeSeriesStore> TimeSeriesStoreOrDie(const tsdb::StoreOptions& o) {
    auto s = tsdb::TimeSeriesStore::open(PosixFileSystem::instance(), o, {}, nullptr);
    if (!s.ok()) std::abort();
    return std::move(*s);
  }
  void commit(const ReadingBatch& b) {
    if (!store_->log(b, clock_.now_ms()).ok() || !store_->commit().ok()) std::abort();
    store_->apply(b);
  }

  ManualClock clock_;
  std::string dir_;
  std::unique_ptr<tsdb::TimeSeriesStore> store_;
};

Fleet& fleet() {
  static Fleet f;
  return f;
}

void BM_LatestOfAllDevices(benchmark::State& state) {
  auto& store = fleet().store();
  const auto devices = store.index().devices();
  const bool served = state.range(0) != 0;
  for (auto _ : state) {
    double sum = 0;
    size_t n = 0;
    size_t missing = 0;
    for (const auto& d : devices) {
      query::for_each_latest(
          store, d, std::nullopt, [&](std::string_view metric, std::optional<tsdb::Sample> s) {
            if (served) missing += store.missing_data(d, metric, INT64_MIN, INT64_MAX).size();
            if (s) sum += s->value, ++n;
          });
    }
    benchmark::DoNotOptimize(sum);
    benchmark::DoNotOptimize(missing);
    state.counters["values"] = static_cast<double>(n);
  }
}
BENCHMARK(BM_LatestOfAllDevices)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_LatestOfAllSeries(benchmark::State& state) {
  auto& store = fleet().store();
  for (auto _ : state) {
    double sum = 0;
    size_t n = 0;
    query::for_each_latest_of_all(
        store, [&](std::string_view, std::string_view, tsdb::Sample s) { sum += s.value, ++n; });
    benchmark::DoNotOptimize(sum);
    state.counters["values"] = static_cast<double>(n);
  }
}
BENCHMARK(BM_LatestOfAllSeries)->Unit(benchmark::kMillisecond);

void BM_OneSeriesDay(benchmark::State& state) {
  auto& store = fleet().store();
  const auto id = *store.index().find(state.range(0) ? "dev-4242" : "long", "temperature");
  const int64_t from = state.range(0) ? kT0 + 10 * kDay : kT0 + 29 * kDay;
  size_t n = 0;
  for (auto _ : state) {
    n = 0;
    double sum = 0;
    store.scan(id, from, from + kDay - 1, [&](const tsdb::Sample& s) { sum += s.value, ++n; });
    benchmark::DoNotOptimize(sum);
  }
  state.counters["points"] = static_cast<double>(n);
}
BENCHMARK(BM_OneSeriesDay)->Arg(1)->Arg(0)->Unit(benchmark::kMicrosecond);

void BM_ThirtyDayHourlyAggregate(benchmark::State& state) {
  auto& store = fleet().store();
  const auto id = *store.index().find("long", "temperature");
  const int64_t interval = state.range(0) ? 3'600'000 : 59 * kMinute;
  size_t buckets = 0;
  for (auto _ : state) {
    auto r = query::aggregate_series(store, id, kT0, kT0 + 30 * kDay - 1, interval);
    buckets = r->size();
    benchmark::DoNotOptimize(r);
  }
  state.counters["buckets"] = static_cast<double>(buckets);
}
BENCHMARK(BM_ThirtyDayHourlyAggregate)->Arg(1)->Arg(0)->Unit(benchmark::kMicrosecond);

void BM_FleetHourlyAggregate(benchmark::State& state) {
  auto& store = fleet().store();
  const auto devices = store.index().devices();
  const int64_t from = kT0 + 10 * kDay;
  size_t buckets = 0;
  for (auto _ : state) {
    std::map<int64_t, query::Bucket> merged;
    for (const auto& d : devices) {
      auto id = store.index().find(d, "temperature");
      if (!id) continue;
      auto r = query::aggregate_series(store, *id, from, from + kDay - 1, 3'600'000);
      for (const auto& b : *r) {
        auto& into = merged[b.start];
        into.start = b.start;
        into.merge(b);
      }
    }
    buckets = merged.size();
    benchmark::DoNotOptimize(merged);
  }
  state.counters["buckets"] = static_cast<double>(buckets);
}
BENCHMARK(BM_FleetHourlyAggregate)->Unit(benchmark::kMillisecond);

void BM_FindSeries(benchmark::State& state) {
  auto& store = fleet().store();
  ReadingBatch b;
  for (int d = 0; d < 5'000; ++d) {
    const uint32_t dev = b.intern_device("dev-" + std::to_string(d * 2));
    for (int m = 0; m < kMetrics; ++m)
      b.add(dev, b.intern_metric(kMetricNames[m]), kT0 + 12 * kDay, 1.0);
  }
  size_t found = 0;
  for (auto _ : state) {
    auto ids = store.find_series(b);
    found = static_cast<size_t>(std::count_if(
        ids.begin(), ids.end(), [](tsdb::SeriesId id) { return id != tsdb::kNoSeries; }));
    benchmark::DoNotOptimize(ids);
  }
  state.counters["found"] = static_cast<double>(found);
}
BENCHMARK(BM_FindSeries)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace fp
