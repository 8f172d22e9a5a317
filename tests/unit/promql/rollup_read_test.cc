// PromQL range queries over compacted data read rollups where the step allows, and the answer
// is the one all raw points give, number for number: dense series (1-minute and 1-hour
// rollups), a sparse one (no rollups), gaps longer than the lookback, NaN and ±Inf, samples on
// bucket boundaries, points in the head beside rollups, and rollups of the older six-column
// format (no sample timestamps), which are read as raw instead.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "model/reading_batch.h"
#include "promql/engine.h"
#include "promql/parser.h"
#include "promql/range_functions.h"
#include "promql/telemetry_source.h"
#include "storage/fs/fault_injecting_file_system.h"
#include "storage/tsdb/rollup.h"
#include "storage/tsdb/time_series_store.h"
#include "util/clock.h"

namespace fp::promql {
namespace {

constexpr int64_t kDay = 86'400'000;
constexpr int64_t kT0 = 1'767'225'600'000;  // 2026-01-01T00:00:00Z, a partition start
constexpr int64_t kHour = 3'600'000;
constexpr int64_t kMinute = 60'000;

// The telemetry source without its rollup reads: every instant selector gets all raw points.
class RawOnly : public SeriesSource {
 public:
  explicit RawOnly(const SeriesSource& s) : s_(s) {}
  Status select(const std::vector<LabelMatcher>& matchers, int64_t mint, int64_t maxt,
                bool with_points, QueryBudget& budget, Matrix& out) const override {
    return s_.select(matchers, mint, maxt, with_points, budget, out);
  }

 private:
  const SeriesSource& s_;
};

bool same(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0 || (std::isnan(a) && std::isnan(b));
}

class PromqlRollupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tsdb::StoreOptions o;
    o.dir = "/data/tsdb";
    o.background = false;
    o.clock = &clock_;
    auto s = tsdb::TimeSeriesStore::open(fs_, o, {}, nullptr);
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(s).value();
    devices_["dense-a"] = {"sensor", "site-1"};
    devices_["dense-b"] = {"sensor", "site-2"};
    devices_["sparse"] = {"meter", "site-1"};
    devices_["dense-c"] = {"meter", "site-3"};
    devices_["big"] = {"meter", "site-3"};
  }

  void write(const std::vector<std::tuple<std::string, int64_t, double>>& readings) {
    ReadingBatch b;
    for (const auto& [d, ts, v] : readings)
      b.add(b.intern_device(d), b.intern_metric("temp"), ts, v);
    ASSERT_TRUE(store_->log(b, clock_.now_ms()).ok());
    ASSERT_TRUE(store_->commit().ok());
    store_->apply(b);
  }

  // Two dense series (about one point a second, with gaps of 7 and 70 minutes, NaN and ±Inf,
  // points on minute and hour boundaries) and a sparse one (every 5 minutes), over 5 hours.
  void write_data() {
    std::mt19937_64 rng(42);
    std::vector<std::tuple<std::string, int64_t, double>> r;
    for (const char* d : {"dense-a", "dense-b"}) {
      for (int64_t t = kT0 + 17; t < kT0 + 5 * kHour;
           t += 700 + static_cast<int64_t>(rng() % 900)) {
        const int64_t in_hour = (t - kT0) % kHour;
        if (d[6] == 'a' && t > kT0 + kHour + 5 * kMinute && t < kT0 + kHour + 12 * kMinute)
          continue;  // a gap longer than the lookback
        if (d[6] == 'b' && in_hour > 20 * kMinute && t < kT0 + 3 * kHour && t > kT0 + 2 * kHour)
          continue;  // a gap past the end of an hour bucket
        double v = static_cast<double>(rng() % 10'000) / 7;
        if (rng() % 500 == 0) v = std::numeric_limits<double>::quiet_NaN();
        if (rng() % 700 == 0) v = rng() % 2 ? HUGE_VAL : -HUGE_VAL;
        r.emplace_back(d, t, v);
      }
      for (int64_t h = 1; h < 5; ++h) r.emplace_back(d, kT0 + h * kHour, 1000.0 + h);  // boundaries
      for (int64_t m = 3; m < 300; m += 11) r.emplace_back(d, kT0 + m * kMinute, -m);
    }
    for (int64_t t = kT0 + 30'000; t < kT0 + 5 * kHour; t += 5 * kMinute)
      r.emplace_back("sparse", t, 3);
    // Finite values only (every hour bucket usable), some on hour and minute boundaries.
    for (int64_t t = kT0 + kHour / 2; t < kT0 + 5 * kHour; t += 1'000 + (t % 7) * 150)
      r.emplace_back("dense-c", t, static_cast<double>(rng() % 1'000) - 500);
    for (int64_t h = 1; h < 5; ++h) r.emplace_back("dense-c", kT0 + h * kHour, 600.0 * h);
    // Integers too large to add exactly: sums of an hour pass 2^53.
    for (int64_t t = kT0 + 2 * kHour; t < kT0 + 4 * kHour; t += 60'000)
      r.emplace_back("big", t, 4e15 + static_cast<double>(t % 1'000));
    write(r);
  }

  QueryValue eval(const SeriesSource& src, const std::string& q, int64_t start, int64_t end,
                  int64_t step) {
    auto e = parse_expression(q);
    EXPECT_TRUE(e.ok()) << q;
    auto v = evaluate_range(**e, src, start, end, step, EngineOptions{});
    EXPECT_TRUE(v.ok()) << q << ": " << v.status().message();
    return v.ok() ? std::move(v).value() : QueryValue{};
  }

  // Every expression over every grid: the rollup-reading source answers as the raw one.
  void expect_same_answers() {
    const TelemetrySource src(*store_, devices_);
    const RawOnly raw(src);
    const std::vector<std::string> queries = {
        "temp", "sum by (type) (temp)", "avg(temp)", "max by (location) (temp)", "count(temp)",
        "temp offset 1h", "temp * 2 > 100", "min(temp offset 5m)",
        "abs(temp{device_id=~\"dense.*\"})",
        // Window functions that may read rollup buckets.
        "min_over_time(temp[1h])", "max_over_time(temp[2h] offset 1h)", "count_over_time(temp[1h])",
        "max_over_time(temp[5m])", "min_over_time(temp[30m] offset 30m)",
        "count_over_time(temp[3m] offset 1m)", "max by (type) (max_over_time(temp[1h]))",
        "count_over_time(temp[90s])", "avg_over_time(temp[1h])", "sum_over_time(temp[1h])",
        "sum_over_time(temp[5m])", "sum_over_time(temp[2h] offset 1h)",
        "sum by (type) (sum_over_time(temp[1h]))"};
    const std::vector<std::tuple<int64_t, int64_t, int64_t>> grids = {
        {kT0 - kHour, kT0 + 7 * kHour, kHour},           // hour buckets
        {kT0, kT0 + 6 * kHour, 2 * kHour},               // hour buckets, 2 h step
        {kT0 - 10 * kMinute, kT0 + 6 * kHour, kMinute},  // minute buckets
        {kT0 + 5 * kMinute, kT0 + 5 * kHour, 5 * kMinute},
        {kT0 + 30 * kMinute, kT0 + 5 * kHour, 30 * kMinute},  // not hour-aligned: minutes
        {kT0 + 1'500, kT0 + 5 * kHour, kMinute},              // off the minute: raw
        {kT0, kT0 + 5 * kHour, 97'000},                       // step off the minute: raw
    };
    for (const auto& q : queries) {
      for (const auto& [a, b, step] : grids) {
        SCOPED_TRACE(q + " @ " + std::to_string(a - kT0) + ".." + std::to_string(b - kT0) + "/" +
                     std::to_string(step));
        const QueryValue want = eval(raw, q, a, b, step);
        const QueryValue got = eval(src, q, a, b, step);
        ASSERT_EQ(got.series.size(), want.series.size());
        for (size_t i = 0; i < want.series.size(); ++i) {
          ASSERT_EQ(got.series[i].labels, want.series[i].labels);
          ASSERT_EQ(got.series[i].points.size(), want.series[i].points.size());
          for (size_t j = 0; j < want.series[i].points.size(); ++j) {
            ASSERT_EQ(got.series[i].points[j].t, want.series[i].points[j].t);
            ASSERT_TRUE(same(got.series[i].points[j].v, want.series[i].points[j].v))
                << got.series[i].points[j].v << " vs " << want.series[i].points[j].v;
          }
        }
      }
    }
  }

  // Every window function over every grid, from the head and from rollups, against a pass of
  // eval_range_function (the plain path, sample by sample) over each window's raw points.
  void expect_answers_of_a_pass_over_each_window() {
    const TelemetrySource src(*store_, devices_);
    const RawOnly raw(src);
    for (const char* fn : {"min_over_time", "max_over_time", "count_over_time", "sum_over_time"}) {
      for (const auto& [range, offset] : std::vector<std::pair<int64_t, int64_t>>{
               {kHour, 0}, {5 * kMinute, 0}, {2 * kHour, kHour}, {90'000, 0}}) {
        const std::string q = std::string(fn) + "(temp[" + std::to_string(range / 1000) + "s]" +
                              (offset ? " offset " + std::to_string(offset / 1000) + "s" : "") +
                              ")";
        for (const auto& [a, b, step] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
                 {kT0 - kHour, kT0 + 7 * kHour, kHour},
                 {kT0 - 10 * kMinute, kT0 + 6 * kHour, kMinute},
                 {kT0 + 1'500, kT0 + 5 * kHour, kMinute},
                 {kT0, kT0 + 5 * kHour, 97'000}}) {
          SCOPED_TRACE(q + " @ " + std::to_string(a - kT0) + "/" + std::to_string(step));
          Matrix points;
          QueryBudget budget{QueryLimits{}};
          ASSERT_TRUE(raw.select({{LabelMatcher::Op::kEqual, "__name__", "temp"}},
                                 a - offset - range, b - offset, true, budget, points)
                          .ok());
          std::sort(points.begin(), points.end(),
                    [](const Series& x, const Series& y) { return x.labels < y.labels; });
          const QueryValue got = eval(src, q, a, b, step);
          size_t next = 0;  // got's series, in the same (label) order, for non-empty answers
          for (const Series& s : points) {
            std::vector<Point> want;
            for (int64_t t = a; t <= b; t += step) {
              const int64_t maxt = t - offset, mint = maxt - range;
              auto lo = std::lower_bound(s.points.begin(), s.points.end(), mint,
                                         [](const Point& p, int64_t x) { return p.t < x; });
              auto hi = std::upper_bound(s.points.begin(), s.points.end(), maxt,
                                         [](int64_t x, const Point& p) { return x < p.t; });
              if (lo == hi) continue;
              const RangeWindow w{std::span<const Point>(&*lo, static_cast<size_t>(hi - lo)), mint,
                                  maxt, range, 0};
              want.push_back({t, *eval_range_function(fn, w)});
            }
            if (want.empty()) continue;
            ASSERT_LT(next, got.series.size());
            const auto& g = got.series[next++].points;
            ASSERT_EQ(g.size(), want.size());
            for (size_t j = 0; j < want.size(); ++j) {
              ASSERT_EQ(g[j].t, want[j].t);
              ASSERT_TRUE(same(g[j].v, want[j].v))
                  << g[j].v << " vs " << want[j].v << " at " << (want[j].t - kT0);
            }
          }
          EXPECT_EQ(next, got.series.size());
        }
      }
    }
  }

  // The series a query answered from rollup buckets.
  size_t rollup_series(const std::string& q, int64_t start, int64_t end, int64_t step) {
    const TelemetrySource src(*store_, devices_);
    return eval(src, q, start, end, step).rollup_series;
  }

  // The points an instant selector on `device` reads at the grid, and whether rollups gave them.
  std::pair<size_t, bool> read(const std::string& device, const StepGrid& grid) {
    const auto id = store_->index().find(device, "temp");
    EXPECT_TRUE(id.has_value());
    std::vector<Point> pts;
    const bool rollups =
        read_points_for_steps(*store_, *id, kT0 - kHour, kT0 + 6 * kHour, grid, pts);
    return {pts.size(), rollups};
  }

  FaultInjectingFileSystem fs_;
  ManualClock clock_{kT0 + 10 * kDay};
  std::unique_ptr<tsdb::TimeSeriesStore> store_;
  DeviceLabelMap devices_;
};

TEST(PromqlRollupWidth, OnlyGridsWhoseEveryInstantIsABucketBoundary) {
  EXPECT_EQ(rollup_width_for({kT0, kHour}), kHour);
  EXPECT_EQ(rollup_width_for({kT0, 2 * kHour}), kHour);
  EXPECT_EQ(rollup_width_for({kT0 + kMinute, kHour}), kMinute);
  EXPECT_EQ(rollup_width_for({kT0, kMinute}), kMinute);
  EXPECT_EQ(rollup_width_for({kT0 - 5 * kMinute, 15 * kMinute}), kMinute);
  EXPECT_EQ(rollup_width_for({kT0 + 1, kMinute}), 0);
  EXPECT_EQ(rollup_width_for({kT0, 90'000}), 0);
  EXPECT_EQ(rollup_width_for({kT0, 0}), 0) << "an instant query";
}

TEST_F(PromqlRollupTest, CompactedDenseSeriesAreReadFromRollupsWithTheRawAnswer) {
  write_data();
  expect_same_answers();  // all in the head: nothing to read rollups from
  EXPECT_FALSE(read("dense-a", {kT0, kHour}).second);
  const size_t raw_points = read("dense-a", {kT0 + 1, kHour}).first;

  ASSERT_TRUE(store_->flush_now().ok());
  ASSERT_TRUE(store_->compact_now().ok());
  ASSERT_EQ(store_->block_stats().blocks, 3u) << "raw + 1m + 1h rollup blocks";
  const auto [hour_points, hour_rollups] = read("dense-a", {kT0, kHour});
  const auto [minute_points, minute_rollups] = read("dense-a", {kT0, kMinute});
  EXPECT_TRUE(hour_rollups);
  EXPECT_TRUE(minute_rollups);
  EXPECT_EQ(read("dense-a", {kT0 + 1, kHour}).first, raw_points) << "off the minute: raw";
  EXPECT_FALSE(read("dense-a", {kT0 + 1, kHour}).second);
  EXPECT_LE(hour_points, 2u * 6) << "at most a bucket's first and last per hour";
  EXPECT_LE(minute_points, 2u * 6 * 60);
  EXPECT_GT(raw_points, 10 * minute_points / 2);
  EXPECT_FALSE(read("sparse", {kT0, kMinute}).second) << "too sparse to have rollups";
  expect_same_answers();

  // Late points in the head over a compacted hour: that hour is read raw, the answer unchanged.
  write({{"dense-a", kT0 + 2 * kHour + 30 * kMinute, 7.5}, {"dense-b", kT0 + 3 * kHour, -1}});
  expect_same_answers();
}

TEST(PromqlRollupWidth, WindowsNeedEndsAndRangeOnTheBoundaries) {
  EXPECT_EQ(window_rollup_width(kT0, kHour, kHour), kHour);
  EXPECT_EQ(window_rollup_width(kT0, 2 * kHour, 3 * kHour), kHour);
  EXPECT_EQ(window_rollup_width(kT0, 0, kHour), kHour) << "an instant query on the hour";
  EXPECT_EQ(window_rollup_width(kT0, kHour, 30 * kMinute), kMinute) << "range off the hour";
  EXPECT_EQ(window_rollup_width(kT0 + kMinute, kHour, kHour), kMinute);
  EXPECT_EQ(window_rollup_width(kT0, kMinute, 90'000), 0) << "range off the minute";
  EXPECT_EQ(window_rollup_width(kT0 + 1, kMinute, kMinute), 0);
  EXPECT_EQ(window_rollup_width(kT0, 90'000, kMinute), 0);
}

TEST_F(PromqlRollupTest, WindowFunctionsReadRollupBucketsWhereAligned) {
  write_data();
  EXPECT_EQ(rollup_series("max_over_time(temp[1h])", kT0, kT0 + 5 * kHour, kHour), 0u)
      << "nothing compacted yet";
  ASSERT_TRUE(store_->flush_now().ok());
  ASSERT_TRUE(store_->compact_now().ok());
  // dense-c has no NaN: its hour buckets stand for its samples.
  EXPECT_GE(rollup_series("max_over_time(temp[1h])", kT0, kT0 + 5 * kHour, kHour), 1u);
  EXPECT_GE(rollup_series("count_over_time(temp{device_id=\"dense-c\"}[2h])", kT0, kT0 + 5 * kHour,
                          kHour),
            1u);
  // Minute buckets without NaN exist in every dense series.
  EXPECT_EQ(rollup_series("min_over_time(temp[5m])", kT0, kT0 + 5 * kHour, kMinute), 3u);
  EXPECT_EQ(rollup_series("min_over_time(temp[5m])", kT0 + 1, kT0 + 5 * kHour, kMinute), 0u)
      << "window ends off the minute";
  EXPECT_EQ(rollup_series("min_over_time(temp[90s])", kT0, kT0 + 5 * kHour, kMinute), 0u)
      << "range off the minute";
  EXPECT_EQ(rollup_series("avg_over_time(temp[1h])", kT0, kT0 + 5 * kHour, kHour), 0u)
      << "avg_over_time is not read from rollups";
  // sum_over_time: only dense-c holds integers whose sums stay exact; big's pass 2^53.
  EXPECT_EQ(rollup_series("sum_over_time(temp[1h])", kT0, kT0 + 5 * kHour, kHour), 1u);
  EXPECT_EQ(
      rollup_series("sum_over_time(temp{device_id=\"dense-c\"}[1h])", kT0, kT0 + 5 * kHour, kHour),
      1u);
  EXPECT_EQ(
      rollup_series("sum_over_time(temp{device_id=\"big\"}[1h])", kT0, kT0 + 5 * kHour, kHour), 0u);
  EXPECT_EQ(
      rollup_series("max_over_time(temp{device_id=\"big\"}[1h])", kT0, kT0 + 5 * kHour, kHour), 1u)
      << "big has hour rollups";
  expect_same_answers();
  // An instant query on the hour: one window, the same answer as from the raw samples.
  const TelemetrySource src(*store_, devices_);
  const RawOnly raw(src);
  for (const char* q : {"max_over_time(temp[2h])", "min_over_time(temp[1h] offset 1h)",
                        "count_over_time(temp[3h])"}) {
    SCOPED_TRACE(q);
    auto e = parse_expression(q);
    ASSERT_TRUE(e.ok());
    auto want = evaluate_instant(**e, raw, kT0 + 4 * kHour, EngineOptions{});
    auto got = evaluate_instant(**e, src, kT0 + 4 * kHour, EngineOptions{});
    ASSERT_TRUE(want.ok() && got.ok());
    EXPECT_GE(got->rollup_series, 1u);
    ASSERT_EQ(got->series.size(), want->series.size());
    for (size_t i = 0; i < want->series.size(); ++i) {
      EXPECT_EQ(got->series[i].labels, want->series[i].labels);
      ASSERT_EQ(got->series[i].points.size(), 1u);
      EXPECT_TRUE(same(got->series[i].points[0].v, want->series[i].points[0].v))
          << got->series[i].points[0].v << " vs " << want->series[i].points[0].v;
    }
  }
}

TEST_F(PromqlRollupTest, SlidingWindowFunctionsAnswerAsAPassOverEachWindow) {
  write_data();
  expect_answers_of_a_pass_over_each_window();  // from the head
  ASSERT_TRUE(store_->flush_now().ok());
  ASSERT_TRUE(store_->compact_now().ok());
  expect_answers_of_a_pass_over_each_window();  // from rollups where aligned
}

TEST(PromqlSlidingExtreme, PicksTheFirstExtremeOfEachWindowAsFunctionsGoDoes) {
  std::mt19937_64 rng(7);
  const double choices[] = {
      0.0, -0.0, 1.5, -1.5, HUGE_VAL, -HUGE_VAL, std::numeric_limits<double>::quiet_NaN(), 3.0};
  std::vector<double> v(2'000);
  for (double& x : v) x = choices[rng() % 8];
  for (const bool is_max : {true, false}) {
    SlidingExtreme ex(is_max);
    size_t lo = 0, pushed = 0;
    for (size_t hi = 1; hi <= v.size(); hi += 1 + rng() % 3) {
      lo = std::max(lo, hi > 40 ? hi - 40 + rng() % 10 : 0);
      if (lo >= hi) lo = hi - 1;
      for (; pushed < hi; ++pushed) ex.push(pushed, v[pushed]);
      ex.drop_before(lo);
      double want = v[lo];  // functions.go: max := first; if cur > max || isNaN(max)
      for (size_t k = lo; k < hi; ++k)
        if ((is_max ? v[k] > want : v[k] < want) || std::isnan(want)) want = v[k];
      ASSERT_TRUE(same(ex.value(), want)) << is_max << " [" << lo << "," << hi << ")";
    }
  }
}

TEST(PromqlRollupFormat, OlderSixColumnRollupsDecodeWithoutTimesAndAreReadRaw) {
  std::vector<tsdb::Sample> s = {{kT0 + 5, 1}, {kT0 + 59'000, 2}, {kT0 + kMinute, 3}};
  auto b = tsdb::build_rollups(s, kMinute);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_TRUE(b[0].has_times);
  EXPECT_EQ(b[0].first_ts, kT0 + 5);
  EXPECT_EQ(b[0].last_ts, kT0 + 59'000);
  EXPECT_EQ(b[1].first_ts, kT0 + kMinute);
  auto back = tsdb::decode_rollups(tsdb::encode_rollups(b));
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE((*back)[0].has_times);
  EXPECT_EQ((*back)[0].first_ts, kT0 + 5);
  EXPECT_EQ((*back)[0].last_ts, kT0 + 59'000);
  // An older payload: the six columns only.
  for (auto& x : b) x.has_times = false;
  const std::string old = tsdb::encode_rollups(b);
  EXPECT_LT(old.size(), tsdb::encode_rollups(*back).size());
  auto old_back = tsdb::decode_rollups(old);
  ASSERT_TRUE(old_back.ok());
  ASSERT_EQ(old_back->size(), 2u);
  EXPECT_FALSE((*old_back)[0].has_times);
  EXPECT_EQ((*old_back)[1].last, 3);
  // The integral column: kept through the payload; older eight-column payloads lack it.
  EXPECT_TRUE((*back)[0].has_integral);
  EXPECT_TRUE((*back)[0].integral);
  auto frac = tsdb::build_rollups(std::vector<tsdb::Sample>{{kT0, 1}, {kT0 + 5, 0.5}}, kMinute);
  EXPECT_FALSE(frac[0].integral);
  auto frac_back = tsdb::decode_rollups(tsdb::encode_rollups(frac));
  ASSERT_TRUE(frac_back.ok());
  EXPECT_TRUE((*frac_back)[0].has_integral);
  EXPECT_FALSE((*frac_back)[0].integral);
  auto eight = *back;
  for (auto& x : eight) x.has_integral = false;
  const std::string eight_columns = tsdb::encode_rollups(eight);
  EXPECT_LT(eight_columns.size(), tsdb::encode_rollups(*back).size());
  auto eight_back = tsdb::decode_rollups(eight_columns);
  ASSERT_TRUE(eight_back.ok());
  EXPECT_TRUE((*eight_back)[0].has_times);
  EXPECT_FALSE((*eight_back)[0].has_integral);
  // A timestamp before its bucket is damage.
  (*back)[1].first_ts = kT0;
  EXPECT_FALSE(tsdb::decode_rollups(tsdb::encode_rollups(*back)).ok());
}

}  // namespace
}  // namespace fp::promql
