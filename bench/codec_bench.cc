// Chunk codec throughput and size (docs/formats/chunk.md), on three named workloads of
// 8640 points each (one day of a series at one point per 10 s):
//   sensor:   regular 10 s timestamps, TSBS-iot-like bounded random walks printed with
//             1..6 decimals (the seven truck fields in turn);
//   random:   random doubles (uniform in +-1e6, every bit significant): the XOR path;
//   constant: one value repeated.
// Counters: points/s (items_per_second) and bytes_per_point of the finished chunk.
// HeadAppend / HeadScan: the same points through the head's SeriesPoints (closed runs of 16
// points as chunks + a raw open run), beside a plain vector of 16-byte points (HeadAppendRaw,
// what the head held before); bytes_per_point there is the heap each holds per point.
#include <benchmark/benchmark.h>

#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "storage/codec/chunk_decoder.h"
#include "storage/codec/chunk_encoder.h"
#include "storage/tsdb/series_points.h"

namespace {

using Points = std::vector<std::pair<int64_t, double>>;
constexpr size_t kPoints = 8640;
constexpr int64_t kStart = 1'700'000'000'000;

// Seven series like the TSBS-iot truck fields: (lo, hi, step, decimals).
Points sensor_series(int field, uint64_t seed) {
  struct Field {
    double lo, hi, step;
    int decimals;
  };
  static const Field kFields[7] = {{-90, 90, 0.0005, 6}, {-180, 180, 0.0005, 6}, {0, 5000, 5, 1},
                                   {0, 100, 2, 2},       {0, 360, 5, 2},         {0, 100, 1, 2},
                                   {0, 50, 0.5, 3}};
  const Field& f = kFields[field % 7];
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  double v = f.lo + (f.hi - f.lo) * unit(rng);
  Points pts;
  for (size_t i = 0; i < kPoints; ++i) {
    v += f.step * (2 * unit(rng) - 1);
    if (v < f.lo) v = f.lo + (f.lo - v);
    if (v > f.hi) v = f.hi - (v - f.hi);
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", f.decimals, v);
    pts.emplace_back(kStart + static_cast<int64_t>(i) * 10'000, std::strtod(text, nullptr));
  }
  return pts;
}

std::vector<Points> workload(const std::string& name) {
  std::vector<Points> series;
  if (name == "sensor") {
    for (int field = 0; field < 7; ++field) series.push_back(sensor_series(field, 42 + field));
  } else if (name == "random") {
    std::mt19937_64 rng(42);
    std::uniform_real_distribution<double> dist(-1e6, 1e6);
    Points pts;
    for (size_t i = 0; i < kPoints; ++i)
      pts.emplace_back(kStart + static_cast<int64_t>(i) * 10'000, dist(rng));
    series.push_back(std::move(pts));
  } else {
    Points pts;
    for (size_t i = 0; i < kPoints; ++i)
      pts.emplace_back(kStart + static_cast<int64_t>(i) * 10'000, 21.5);
    series.push_back(std::move(pts));
  }
  return series;
}

std::string encode(const Points& pts) {
  fp::codec::ChunkEncoder enc;
  for (const auto& [ts, v] : pts) enc.append(ts, v);
  return enc.finish();
}

double bytes_per_point(const std::vector<Points>& series) {
  size_t bytes = 0;
  size_t points = 0;
  for (const Points& pts : series) {
    bytes += encode(pts).size();
    points += pts.size();
  }
  return static_cast<double>(bytes) / static_cast<double>(points);
}

void BM_Encode(benchmark::State& state, const std::string& name) {
  const std::vector<Points> series = workload(name);
  size_t points = 0;
  for (auto _ : state) {
    for (const Points& pts : series) {
      fp::codec::ChunkEncoder enc;
      for (const auto& [ts, v] : pts) enc.append(ts, v);
      std::string chunk = enc.finish();
      benchmark::DoNotOptimize(chunk.data());
      points += pts.size();
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(points));
  state.counters["bytes_per_point"] = bytes_per_point(series);
}

void BM_Decode(benchmark::State& state, const std::string& name) {
  const std::vector<Points> series = workload(name);
  std::vector<std::string> chunks;
  for (const Points& pts : series) chunks.push_back(encode(pts));
  size_t points = 0;
  for (auto _ : state) {
    for (const std::string& chunk : chunks) {
      fp::codec::ChunkDecoder dec(chunk);
      int64_t ts = 0;
      double v = 0;
      int64_t ts_sum = 0;
      double v_sum = 0;
      while (dec.next(ts, v)) {
        ts_sum += ts;
        v_sum += v;
      }
      benchmark::DoNotOptimize(ts_sum);
      benchmark::DoNotOptimize(v_sum);
      if (!dec.status().ok()) state.SkipWithError("decode failed");
      points += dec.count();
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(points));
  state.counters["bytes_per_point"] = bytes_per_point(series);
}

void BM_HeadAppend(benchmark::State& state, const std::string& name) {
  const std::vector<Points> series = workload(name);
  size_t points = 0, bytes = 0, held = 0;
  for (auto _ : state) {
    bytes = held = 0;
    for (const Points& pts : series) {
      fp::tsdb::SeriesPoints p;
      for (const auto& [ts, v] : pts) p.insert(ts, v);
      bytes += sizeof p + p.memory_bytes();
      held += p.size();
      points += pts.size();
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(points));
  state.counters["bytes_per_point"] = static_cast<double>(bytes) / static_cast<double>(held);
}

void BM_HeadAppendRaw(benchmark::State& state, const std::string& name) {
  const std::vector<Points> series = workload(name);
  size_t points = 0, bytes = 0, held = 0;
  for (auto _ : state) {
    bytes = held = 0;
    for (const Points& pts : series) {
      std::vector<fp::tsdb::Sample> v;
      for (const auto& [ts, x] : pts) v.push_back({ts, x});
      bytes += sizeof v + v.capacity() * sizeof(fp::tsdb::Sample);
      held += v.size();
      points += pts.size();
      benchmark::DoNotOptimize(v.data());
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(points));
  state.counters["bytes_per_point"] = static_cast<double>(bytes) / static_cast<double>(held);
}

void BM_HeadScan(benchmark::State& state, const std::string& name) {
  const std::vector<Points> series = workload(name);
  std::vector<fp::tsdb::SeriesPoints> heads(series.size());
  for (size_t i = 0; i < series.size(); ++i)
    for (const auto& [ts, v] : series[i]) heads[i].insert(ts, v);
  size_t points = 0;
  for (auto _ : state) {
    for (const auto& p : heads) {
      double sum = 0;
      p.scan(INT64_MIN, INT64_MAX, [&](const fp::tsdb::Sample& s) { sum += s.value; });
      benchmark::DoNotOptimize(sum);
      points += p.size();
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(points));
}

BENCHMARK_CAPTURE(BM_HeadAppend, sensor, std::string("sensor"));
BENCHMARK_CAPTURE(BM_HeadAppendRaw, sensor, std::string("sensor"));
BENCHMARK_CAPTURE(BM_HeadScan, sensor, std::string("sensor"));
BENCHMARK_CAPTURE(BM_HeadAppend, random, std::string("random"));
BENCHMARK_CAPTURE(BM_Encode, sensor, std::string("sensor"));
BENCHMARK_CAPTURE(BM_Encode, random, std::string("random"));
BENCHMARK_CAPTURE(BM_Encode, constant, std::string("constant"));
BENCHMARK_CAPTURE(BM_Decode, sensor, std::string("sensor"));
BENCHMARK_CAPTURE(BM_Decode, random, std::string("random"));
BENCHMARK_CAPTURE(BM_Decode, constant, std::string("constant"));

}  // namespace
