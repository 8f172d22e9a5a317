// SeriesPoints (the head's compressed points of one series) as a spec: whatever the arrival
// order, it holds exactly the last value written per timestamp, sorted, and regular sensor
// data takes a few bytes per point instead of 16.
#include "storage/tsdb/series_points.h"

#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <map>
#include <random>

namespace fp::tsdb {
namespace {

void expect_matches(const SeriesPoints& p, const std::map<int64_t, double>& model,
                    std::mt19937_64& rng) {
  ASSERT_EQ(p.size(), model.size());
  const std::vector<Sample> all = p.to_vector();
  ASSERT_EQ(all.size(), model.size());
  size_t i = 0;
  for (const auto& [ts, v] : model) {
    EXPECT_EQ(all[i].ts, ts);
    EXPECT_EQ(std::bit_cast<uint64_t>(all[i].value), std::bit_cast<uint64_t>(v)) << ts;
    ++i;
  }
  if (model.empty()) return;
  EXPECT_EQ(p.first_ts(), model.begin()->first);
  EXPECT_EQ(p.last_ts(), model.rbegin()->first);
  for (int k = 0; k < 20; ++k) {
    const int64_t a =
        model.begin()->first - 50 +
        static_cast<int64_t>(
            rng() % static_cast<uint64_t>(model.rbegin()->first - model.begin()->first + 100));
    const int64_t b = a + static_cast<int64_t>(rng() % 400);
    std::vector<int64_t> got, want;
    p.scan(a, b, [&](const Sample& s) { got.push_back(s.ts); });
    for (auto it = model.lower_bound(a); it != model.end() && it->first <= b; ++it)
      want.push_back(it->first);
    EXPECT_EQ(got, want) << "[" << a << ", " << b << "]";
    EXPECT_EQ(p.has_points(a, b), !want.empty()) << "[" << a << ", " << b << "]";
  }
}

TEST(SeriesPointsTest, HoldsTheLastValuePerTimestampWhateverTheArrivalOrder) {
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    SeriesPoints p;
    std::map<int64_t, double> model;
    // Even seeds pass the late buffer's merge threshold (64 late points) many times.
    const int n = 1 + static_cast<int>(rng() % (seed % 2 ? 300 : 6000));
    int64_t now = 1'700'000'000'000;
    for (int i = 0; i < n; ++i) {
      int64_t ts;
      switch (rng() % 8) {
        case 0:  // late, maybe into a closed run
          ts = now - static_cast<int64_t>(rng() % 2000);
          break;
        case 1:  // a retry of an existing point
          ts = model.empty()
                   ? now
                   : std::next(model.begin(), static_cast<std::ptrdiff_t>(rng() % model.size()))
                         ->first;
          break;
        default:
          now += 1 + static_cast<int64_t>(rng() % 20);
          ts = now;
      }
      // Decimals mostly, sometimes a value only XOR can code.
      const double v = rng() % 50 == 0 ? std::nan("") + static_cast<double>(i)
                       : rng() % 40 == 0
                           ? -0.0
                           : static_cast<double>(static_cast<int64_t>(rng() % 10000) - 5000) / 100;
      const bool existed = model.count(ts) != 0;
      EXPECT_EQ(p.insert(ts, v), existed) << "point " << i << " ts " << ts;
      model[ts] = v;
    }
    expect_matches(p, model, rng);
  }
}

TEST(SeriesPointsTest, InterleavedWritersFarApartInTimeKeepEveryPointAndEveryOverwrite) {
  // Eight writers each append in order, each in its own time range (a live stream and
  // backfills): all but the newest range's points arrive late, into the gaps between closed
  // runs, which the late merges grow and split. One write in 20 repeats an earlier point.
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    SeriesPoints p;
    std::map<int64_t, double> model;
    std::vector<int64_t> next(8);
    for (size_t w = 0; w < next.size(); ++w)
      next[w] = 1'700'000'000'000 + static_cast<int64_t>(w) * 1'000'000'000;
    for (int i = 0; i < 20000; ++i) {
      int64_t ts;
      if (rng() % 20 == 0 && !model.empty()) {
        ts = std::next(model.begin(), static_cast<std::ptrdiff_t>(rng() % model.size()))->first;
      } else {
        int64_t& n = next[rng() % next.size()];
        n += 1 + static_cast<int64_t>(rng() % 1000);
        ts = n;
      }
      const double v = static_cast<double>(i % 997) / 10;
      const bool existed = model.count(ts) != 0;
      ASSERT_EQ(p.insert(ts, v), existed) << "point " << i << " ts " << ts;
      model[ts] = v;
      if (i % 5000 == 4999) expect_matches(p, model, rng);
    }
    expect_matches(p, model, rng);
  }
}

TEST(SeriesPointsTest, ExtremeTimestampsRoundTrip) {
  SeriesPoints p;
  std::map<int64_t, double> model;
  for (int64_t ts : {int64_t{0}, INT64_MAX, INT64_MIN, int64_t{-1}, INT64_MAX - 1, INT64_MIN + 1}) {
    p.insert(ts, 1.5);
    model[ts] = 1.5;
  }
  for (int i = 0; i < 40; ++i) {  // fill closed runs on both sides of zero
    p.insert(i * 1000, i);
    p.insert(-i * 1000 - 7, -i);
    model[i * 1000] = i;
    model[-i * 1000 - 7] = -i;
  }
  EXPECT_TRUE(p.insert(INT64_MIN, 2.5));
  model[INT64_MIN] = 2.5;
  std::mt19937_64 rng(1);
  const std::vector<Sample> all = p.to_vector();
  ASSERT_EQ(all.size(), model.size());
  EXPECT_EQ(all.front().ts, INT64_MIN);
  EXPECT_EQ(all.front().value, 2.5);
  EXPECT_EQ(all.back().ts, INT64_MAX);
  EXPECT_TRUE(p.has_points(INT64_MAX, INT64_MAX));
  EXPECT_TRUE(p.has_points(INT64_MIN, INT64_MIN));
  EXPECT_FALSE(p.has_points(2, 999));
}

TEST(SeriesPointsTest, RegularSensorDataTakesAFewBytesPerPoint) {
  // 10 s cadence, values printed with 2 decimals: what the head mostly holds.
  SeriesPoints p;
  std::mt19937_64 rng(7);
  double v = 20;
  constexpr int kPoints = 1024;
  for (int i = 0; i < kPoints; ++i) {
    v += static_cast<double>(static_cast<int>(rng() % 21) - 10) / 100;
    p.insert(1'700'000'000'000 + i * 10'000, std::round(v * 100) / 100);
  }
  EXPECT_EQ(p.size(), static_cast<size_t>(kPoints));
  const double per_point = static_cast<double>(p.memory_bytes()) / kPoints;
  EXPECT_LT(per_point, 4.0) << "raw points take 16";
}

}  // namespace
}  // namespace fp::tsdb
