// What server timestamps cost the commit thread. Named workloads, each a commit group of one
// batch of 1000 readings x 4 metrics over 10 devices (the shape of bench/unstamped_ingest.py),
// against a store that already holds those series:
//   Stamping/explicit     every point has a device timestamp: stamp_group() returns at once
//   Stamping/unstamped    no point has one: every point gets a server stamp
//   Stamping/mixed        half of the readings have one (their devices overlap)
//   Apply/unstamped       TimeSeriesStore::apply() of the same batch, for scale
// items_per_second counts points.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "ingest/server_timestamps.h"
#include "storage/fs/fault_injecting_file_system.h"
#include "storage/tsdb/time_series_store.h"

namespace fp {
namespace {

constexpr int64_t kNow = 1'767'225'600'000;

ReadingBatch make_batch(int64_t now, int explicit_every) {
  ReadingBatch b;
  const uint32_t metrics[] = {b.intern_metric("a"), b.intern_metric("b"), b.intern_metric("c"),
                              b.intern_metric("d")};
  for (int i = 0; i < 1000; ++i) {
    const uint32_t dev = b.intern_device("bench-" + std::to_string(i % 10));
    for (uint32_t m : metrics) {
      if (explicit_every && i % explicit_every == 0)
        b.add(dev, m, now - 100'000 + i, i);
      else
        b.add_unstamped(dev, m, now, i);
    }
  }
  return b;
}

struct Fixture {
  FaultInjectingFileSystem fs;
  std::unique_ptr<tsdb::TimeSeriesStore> store;
  Fixture() {
    tsdb::StoreOptions o;
    o.dir = "/tsdb";
    o.background = false;
    store = std::move(tsdb::TimeSeriesStore::open(fs, o, {}, nullptr)).value();
    ReadingBatch seed = make_batch(kNow - 1'000'000, 1);
    store->apply(seed);
  }
};

void run_stamping(benchmark::State& state, int explicit_every) {
  Fixture f;
  ServerTimestamps stamps(*f.store);
  int64_t now = kNow;
  for (auto _ : state) {
    state.PauseTiming();
    ReadingBatch b = make_batch(now, explicit_every);
    now += 1000;
    ReadingBatch* group[] = {&b};
    state.ResumeTiming();
    stamps.stamp_group(group);
    stamps.end_group();
    benchmark::DoNotOptimize(b.points().data());
  }
  state.SetItemsProcessed(state.iterations() * 4000);
}

void BM_StampingExplicit(benchmark::State& state) {
  run_stamping(state, 1);
}
void BM_StampingUnstamped(benchmark::State& state) {
  run_stamping(state, 0);
}
void BM_StampingMixed(benchmark::State& state) {
  run_stamping(state, 2);
}

void BM_ApplyUnstamped(benchmark::State& state) {
  Fixture f;
  ServerTimestamps stamps(*f.store);
  int64_t now = kNow;
  for (auto _ : state) {
    state.PauseTiming();
    ReadingBatch b = make_batch(now, 0);
    now += 1000;
    ReadingBatch* group[] = {&b};
    stamps.stamp_group(group);
    stamps.end_group();
    state.ResumeTiming();
    f.store->apply(b);
  }
  state.SetItemsProcessed(state.iterations() * 4000);
}

BENCHMARK(BM_StampingExplicit)->Name("Stamping/explicit");
BENCHMARK(BM_StampingUnstamped)->Name("Stamping/unstamped");
BENCHMARK(BM_StampingMixed)->Name("Stamping/mixed");
BENCHMARK(BM_ApplyUnstamped)->Name("Apply/unstamped");

}  // namespace
}  // namespace fp
