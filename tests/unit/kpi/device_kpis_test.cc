// KPI arithmetic checked against figures worked out by hand on constructed timelines.

#include "kpi/device_kpis.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "kpi/kpi_service.h"
#include "unit/temp_dir.h"

namespace fp {
namespace {

constexpr int64_t kMin = 60'000;
constexpr int64_t kT0 = 1'767'225'600'000;  // 2026-01-01T00:00:00Z

StatusTransition tr(DeviceStatus from, DeviceStatus to, int64_t at, std::string id = "d1") {
  return {std::move(id), from, to, "test", at};
}

using S = DeviceStatus;

TEST(StatusTimesTest, OfflineFifteenOfSixtyMinutesIsSeventyFivePercentAvailable) {
  std::vector<StatusTransition> t = {tr(S::kOnline, S::kOffline, kT0 + 20 * kMin),
                                     tr(S::kOffline, S::kOnline, kT0 + 35 * kMin)};
  const StatusTimes times = status_times(S::kOnline, t, kT0, kT0 + 60 * kMin);
  EXPECT_EQ(times.online_ms, 45 * kMin);
  EXPECT_EQ(times.offline_ms, 15 * kMin);
  const DeviceKpis k = compute_device_kpis(times, {}, std::nullopt, 60 * kMin, kT0 + 60 * kMin);
  EXPECT_DOUBLE_EQ(*k.availability_pct, 75.0);
  EXPECT_DOUBLE_EQ(*k.uptime_pct, 75.0);
  EXPECT_DOUBLE_EQ(*k.mtbf_s, 2700.0);  // 45 min up / 1 failure
  EXPECT_DOUBLE_EQ(*k.mttr_s, 900.0);   // 15 min down / 1 outage
}

TEST(StatusTimesTest, AtRiskCountsForUptimeButNotAvailability) {
  // online 0-30, at_risk 30-40, offline 40-50, online 50-60; two outages? one.
  std::vector<StatusTransition> t = {tr(S::kOnline, S::kAtRisk, kT0 + 30 * kMin),
                                     tr(S::kAtRisk, S::kOffline, kT0 + 40 * kMin),
                                     tr(S::kOffline, S::kOnline, kT0 + 50 * kMin)};
  const StatusTimes times = status_times(S::kOnline, t, kT0, kT0 + 60 * kMin);
  const DeviceKpis k = compute_device_kpis(times, {}, std::nullopt, 60 * kMin, 0);
  EXPECT_NEAR(*k.availability_pct, 100.0 * 40 / 60, 1e-9);
  EXPECT_NEAR(*k.uptime_pct, 100.0 * 50 / 60, 1e-9);
  EXPECT_DOUBLE_EQ(*k.mtbf_s, 50 * 60.0);
  EXPECT_DOUBLE_EQ(*k.mttr_s, 10 * 60.0);
}

TEST(StatusTimesTest, TwoOutagesAverageTheirRepairTimes) {
  std::vector<StatusTransition> t = {
      tr(S::kOnline, S::kOffline, kT0 + 10 * kMin), tr(S::kOffline, S::kOnline, kT0 + 15 * kMin),
      tr(S::kOnline, S::kOffline, kT0 + 30 * kMin), tr(S::kOffline, S::kOnline, kT0 + 45 * kMin)};
  const StatusTimes times = status_times(S::kOnline, t, kT0, kT0 + 60 * kMin);
  const DeviceKpis k = compute_device_kpis(times, {}, std::nullopt, 60 * kMin, 0);
  EXPECT_EQ(times.failures, 2);
  EXPECT_DOUBLE_EQ(*k.mttr_s, 10 * 60.0);  // (5 + 15) / 2 min
  EXPECT_DOUBLE_EQ(*k.mtbf_s, 20 * 60.0);  // 40 min up / 2
  EXPECT_DOUBLE_EQ(*k.availability_pct, 100.0 * 40 / 60);
}

TEST(StatusTimesTest, OfflineAtTheStartIsARepairWithoutAFailure) {
  std::vector<StatusTransition> t = {tr(S::kOffline, S::kOnline, kT0 + 10 * kMin)};
  const StatusTimes times = status_times(S::kOnline, t, kT0, kT0 + 60 * kMin);
  const DeviceKpis k = compute_device_kpis(times, {}, std::nullopt, 60 * kMin, 0);
  EXPECT_FALSE(k.mtbf_s.has_value());
  EXPECT_DOUBLE_EQ(*k.mttr_s, 600.0);
  EXPECT_NEAR(*k.availability_pct, 100.0 * 50 / 60, 1e-9);
}

TEST(StatusTimesTest, NoTransitionsMeansTheCurrentStatusAllAlong) {
  const StatusTimes online = status_times(S::kOnline, {}, kT0, kT0 + 60 * kMin);
  EXPECT_EQ(online.online_ms, 60 * kMin);
  const StatusTimes unknown = status_times(S::kUnknown, {}, kT0, kT0 + 60 * kMin);
  EXPECT_DOUBLE_EQ(*compute_device_kpis(unknown, {}, std::nullopt, 1, 0).availability_pct, 0.0);
}

TEST(DeviceKpisTest, ThroughputErrorRateAndConsistency) {
  StatusTimes times = status_times(S::kOnline, {}, kT0, kT0 + 60 * kMin);
  DeviceActivity a;
  a.totals = {45, 45 * 200, 5};
  const int64_t end = kT0 + 60 * kMin;
  const DeviceKpis k = compute_device_kpis(times, a, 60'000, 60 * kMin, end);
  EXPECT_DOUBLE_EQ(k.messages_per_min, 0.75);
  EXPECT_DOUBLE_EQ(k.bytes_per_min, 150.0);
  EXPECT_DOUBLE_EQ(*k.error_rate, 0.1);           // 5 / (45 + 5)
  EXPECT_DOUBLE_EQ(*k.status_consistency, 0.75);  // 45 of 60 expected at 1/min
  a.totals.messages = 500;                        // more than expected: capped
  EXPECT_DOUBLE_EQ(*compute_device_kpis(times, a, 60'000, 60 * kMin, end).status_consistency, 1.0);
  EXPECT_FALSE(compute_device_kpis(times, a, std::nullopt, 60 * kMin, end).status_consistency);
}

TEST(DeviceKpisTest, RatesAreOverTheSpanTheCountsCoverInALongWindow) {
  // A 7-day period whose counts cover only the last 25 hours: rates over those 25 hours.
  const int64_t end = kT0 + 7 * 24 * 60 * kMin;
  StatusTimes times = status_times(S::kOnline, {}, kT0, end);
  DeviceActivity a;
  a.totals = {1500, 3000, 0};
  a.totals_since_ms = end - 25 * 60 * kMin;
  const DeviceKpis k = compute_device_kpis(times, a, 60'000, 7 * 24 * 60 * kMin, end);
  EXPECT_DOUBLE_EQ(k.messages_per_min, 1.0);  // 1500 in 1500 minutes, not in 10080
  EXPECT_DOUBLE_EQ(k.bytes_per_min, 2.0);
  EXPECT_DOUBLE_EQ(*k.status_consistency, 1.0);
  EXPECT_EQ(k.activity_since_ms, a.totals_since_ms);
  EXPECT_EQ(k.messages, 1500u);
  EXPECT_DOUBLE_EQ(*k.availability_pct, 100.0);  // status figures cover the whole period
}

TEST(DeviceKpisTest, ResponseTimeAverageAndP95) {
  DeviceActivity a;
  for (int i = 1; i <= 20; ++i) a.response_ms.push_back(i * 10.0);
  const DeviceKpis k =
      compute_device_kpis(status_times(S::kOnline, {}, kT0, kT0 + kMin), a, {}, kMin, 0);
  EXPECT_DOUBLE_EQ(*k.response_avg_ms, 105.0);
  EXPECT_DOUBLE_EQ(*k.response_p95_ms, 190.0);  // nearest rank: 19th of 20
}

TEST(BatteryForecastTest, LinearDrainAndTimeToEmpty) {
  const int64_t day = 86'400'000;
  std::vector<BatterySample> s = {{kT0, 100}, {kT0 + day / 2, 90}, {kT0 + day, 80}};
  const BatteryForecast f = forecast_battery(s);
  EXPECT_NEAR(*f.drain_pct_per_day, 20.0, 1e-9);
  EXPECT_EQ(*f.empty_at_ms, kT0 + day + 4 * day);  // 80 % left at 20 %/day
}

TEST(BatteryForecastTest, ChargingOrTooFewSamplesHasNoEmptyTime) {
  EXPECT_FALSE(forecast_battery(std::vector<BatterySample>{{kT0, 50}}).drain_pct_per_day);
  const BatteryForecast f =
      forecast_battery(std::vector<BatterySample>{{kT0, 50}, {kT0 + kMin, 60}});
  EXPECT_LT(*f.drain_pct_per_day, 0);
  EXPECT_FALSE(f.empty_at_ms);
}

TEST(DeviceActivityLogTest, HourlyTotalsSamplesAndBatterySpacing) {
  DeviceActivityLog log;
  log.record_message("d1", kT0 - 3 * 3'600'000, 100);  // three hours ago
  log.record_message("d1", kT0, 10);
  log.record_message("d1", kT0 + 1, 20);
  log.record_rejected("d1", kT0, 2);
  log.record_response_time("d1", kT0, 40);
  log.record_battery("d1", kT0, 90);
  log.record_battery("d1", kT0 + kMin, 89);  // within 30 min of the last sample: skipped
  log.record_battery("d1", kT0 + 30 * kMin, 88);
  DeviceActivity a = log.activity("d1", kT0 - 3'600'000);
  EXPECT_EQ(a.totals.messages, 2u);
  EXPECT_EQ(a.totals.bytes, 30u);
  EXPECT_EQ(a.totals.rejected, 2u);
  EXPECT_EQ(a.response_ms, std::vector<double>{40});
  ASSERT_EQ(a.battery.size(), 2u);
  EXPECT_EQ(a.battery[1].level, 88);
  EXPECT_EQ(log.activity("d1", kT0 - 4 * 3'600'000).totals.messages, 3u);
  // A bucket 25 hours later reuses the slot; the hour 28 hours before it is no longer kept.
  log.record_message("d1", kT0 + 25 * 3'600'000, 1);
  EXPECT_EQ(log.activity("d1", kT0 - 4 * 3'600'000).totals.messages, 1u);
}

TEST(DeviceActivityLogTest, RingsKeepTheNewestSamples) {
  DeviceActivityLog log;
  for (int i = 0; i < 100; ++i) log.record_response_time("d1", kT0 + i, i);
  auto a = log.activity("d1", 0);
  ASSERT_EQ(a.response_ms.size(), static_cast<size_t>(DeviceActivityLog::kResponseSamples));
  EXPECT_EQ(*std::min_element(a.response_ms.begin(), a.response_ms.end()), 84);
  for (int i = 0; i < 60; ++i) log.record_battery("d1", kT0 + i * 30 * kMin, 100 - i);
  a = log.activity("d1", 0);
  ASSERT_EQ(a.battery.size(), static_cast<size_t>(DeviceActivityLog::kBatterySamples));
  EXPECT_EQ(a.battery.front().level, 100 - 12);  // oldest kept first
  EXPECT_EQ(a.battery.back().level, 100 - 59);
}

// The service on a real catalog: one device offline 15 of the last 60 minutes, grouped.
class KpiServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("fp_kpi_");
    clock_.set(kT0);
    auto c = Catalog::open((dir_ / "catalog.db").string(), clock_);
    ASSERT_TRUE(c.ok());
    catalog_ = std::move(c).value();
  }
  void TearDown() override {
    catalog_.reset();
    std::filesystem::remove_all(dir_);
  }
  void add_device(const std::string& id, const std::string& type) {
    Device d;
    d.device_id = id;
    d.type = type;
    d.created_at_ms = d.updated_at_ms = kT0;
    ASSERT_TRUE(catalog_->create_device(d).ok());
    d.status = S::kOnline;
    tracker_.add(d);
  }

  ManualClock clock_;
  std::filesystem::path dir_;
  std::unique_ptr<Catalog> catalog_;
  DeviceStatusTracker tracker_{StatusPolicy{}, clock_};
  DeviceActivityLog activity_;
};

TEST_F(KpiServiceTest, DeviceAndFleetFiguresFromTheStatusHistory) {
  add_device("a", "pump");
  add_device("b", "pump");
  add_device("c", "meter");
  std::vector<StatusTransition> history = {
      tr(S::kUnknown, S::kOnline, kT0, "a"), tr(S::kOnline, S::kOffline, kT0 + 20 * kMin, "a"),
      tr(S::kOffline, S::kOnline, kT0 + 35 * kMin, "a"), tr(S::kUnknown, S::kOnline, kT0, "b"),
      tr(S::kUnknown, S::kOnline, kT0, "c")};
  ASSERT_TRUE(catalog_->apply_reports({}, {}, history).ok());
  for (int i = 0; i < 60; ++i) activity_.record_message("b", kT0 + i * kMin, 100);
  clock_.set(kT0 + 60 * kMin);
  DeviceKpiService service(*catalog_, tracker_, activity_, clock_);

  auto a = service.device("a", 60 * kMin);
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_DOUBLE_EQ(*a->availability_pct, 75.0);
  EXPECT_DOUBLE_EQ(*a->mtbf_s, 2700.0);
  EXPECT_DOUBLE_EQ(*a->mttr_s, 900.0);
  EXPECT_EQ(service.device("zz", 60 * kMin).status().code(), StatusCode::kNotFound);

  auto s = service.summary(60 * kMin, KpiGroupBy::kType);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->fleet.devices, 3);
  EXPECT_NEAR(*s->fleet.kpis.availability_pct, (75.0 + 100 + 100) / 3, 1e-9);
  EXPECT_DOUBLE_EQ(s->fleet.kpis.messages_per_min, 1.0);
  ASSERT_EQ(s->groups.size(), 2u);
  EXPECT_EQ(s->groups[0].key, "meter");
  EXPECT_DOUBLE_EQ(*s->groups[0].kpis.availability_pct, 100.0);
  EXPECT_EQ(s->groups[1].key, "pump");
  EXPECT_EQ(s->groups[1].devices, 2);
  EXPECT_DOUBLE_EQ(*s->groups[1].kpis.availability_pct, 87.5);
  EXPECT_DOUBLE_EQ(*s->groups[1].kpis.mtbf_s, (45 + 60) * 60.0);  // up time / 1 failure
}

}  // namespace
}  // namespace fp
