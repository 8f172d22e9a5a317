// WAL replay into the head, in process (no file I/O): the batch records of the default
// workload (10k devices x 7 fields, 5,000-line batches, one reading per device every 10 s)
// applied point by point as before (decode into a ReadingBatch, index lookup and Head::append
// per point) and in bulk (ReplayApplier). Counters: values/s, and ns per value in
// items_per_second terms. Args: {devices, batches}.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "model/reading_batch.h"
#include "storage/tsdb/batch_record.h"
#include "storage/tsdb/head.h"
#include "storage/tsdb/replay_applier.h"
#include "storage/tsdb/series_index.h"

namespace {

constexpr int kFields = 7;
constexpr int kLines = 5000;

std::vector<std::string> make_records(int devices, int batches) {
  static const char* fields[kFields] = {"latitude", "longitude", "elevation",       "velocity",
                                        "heading",  "grade",     "fuel_consumption"};
  std::vector<std::string> out;
  int64_t line = 0;
  for (int b = 0; b < batches; ++b) {
    fp::ReadingBatch batch;
    for (int l = 0; l < kLines; ++l, ++line) {
      const int64_t tick = line / devices;
      const uint32_t d = batch.intern_device("truck_" + std::to_string(line % devices));
      const int64_t ts = 1'700'000'000'000 + tick * 10'000 + line % devices;
      for (int f = 0; f < kFields; ++f)
        batch.add(d, batch.intern_metric(fields[f]), ts,
                  static_cast<double>((line * 7 + f) % 1000) / 10);
    }
    out.emplace_back();
    fp::tsdb::encode_batch_record(batch, out.back());
  }
  return out;
}

void BM_ReplayPointByPoint(benchmark::State& state) {
  const auto records =
      make_records(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  for (auto _ : state) {
    fp::tsdb::SeriesIndex index;
    fp::tsdb::Head head;
    fp::ReadingBatch batch;
    for (const std::string& r : records) {
      (void)fp::tsdb::decode_batch_record(r, batch);
      std::vector<fp::tsdb::SeriesId> cache(batch.devices().size() * batch.metrics().size(),
                                            UINT32_MAX);
      for (const fp::Point& p : batch.points()) {
        auto& id = cache[p.device * batch.metrics().size() + p.metric];
        if (id == UINT32_MAX)
          id = index.get_or_create(batch.devices()[p.device], batch.metrics()[p.metric]);
        head.append(id, p.ts_ms, p.value);
      }
    }
    benchmark::DoNotOptimize(head.points());
  }
  state.SetItemsProcessed(state.iterations() * records.size() * kLines * kFields);
}

void BM_ReplayBulk(benchmark::State& state) {
  const auto records =
      make_records(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  for (auto _ : state) {
    fp::tsdb::SeriesIndex index;
    fp::tsdb::Head head;
    fp::tsdb::ReplayApplier applier(index, head);
    size_t points;
    for (const std::string& r : records) (void)applier.add_batch(r, 0, &points);
    applier.flush();
    benchmark::DoNotOptimize(head.points());
  }
  state.SetItemsProcessed(state.iterations() * records.size() * kLines * kFields);
}

}  // namespace

BENCHMARK(BM_ReplayPointByPoint)
    ->Args({10'000, 400})
    ->Args({100'000, 400})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReplayBulk)->Args({10'000, 400})->Args({100'000, 400})->Unit(benchmark::kMillisecond);
