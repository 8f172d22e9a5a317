#include "monitor/device_status_tracker.h"

#include <gtest/gtest.h>

namespace fp {
namespace {

constexpr int64_t kS = 1000;

StatusPolicy policy() {
  StatusPolicy p;
  p.defaults = {60 * kS, 300 * kS, 20.0};
  p.by_type["camera"] = {600 * kS, 1800 * kS, 10.0};
  return p;
}

Device dev(const std::string& id, const std::string& type = "") {
  Device d;
  d.device_id = id;
  d.type = type;
  return d;
}

class TrackerTest : public ::testing::Test {
 protected:
  ManualClock clock{1'000'000'000};
  DeviceStatusTracker t{policy(), clock};

  std::optional<StatusTransition> report(const std::string& id,
                                         std::optional<double> battery = {}) {
    return t.observe(id, clock.now_ms(), battery, std::nullopt);
  }
  std::vector<StatusTransition> advance(int64_t ms) {
    clock.advance(ms);
    return t.process_due(clock.now_ms());
  }
};

TEST_F(TrackerTest, NewDeviceIsUnknownUntilItReports) {
  EXPECT_FALSE(t.add(dev("d1")));
  EXPECT_EQ(t.get("d1")->status, DeviceStatus::kUnknown);
  EXPECT_EQ(t.next_deadline(), kNoDeadline);
  auto tr = report("d1");
  ASSERT_TRUE(tr);
  EXPECT_EQ(tr->from, DeviceStatus::kUnknown);
  EXPECT_EQ(tr->to, DeviceStatus::kOnline);
}

TEST_F(TrackerTest, SilentDeviceGoesAtRiskThenOfflineExactlyAfterThresholds) {
  t.add(dev("d1"));
  report("d1");
  EXPECT_TRUE(advance(60 * kS).empty()) << "at exactly at_risk_after it is still online";
  auto at_risk = advance(1);
  ASSERT_EQ(at_risk.size(), 1u);
  EXPECT_EQ(at_risk[0].to, DeviceStatus::kAtRisk);
  EXPECT_NE(at_risk[0].reason.find("1m"), std::string::npos) << at_risk[0].reason;
  EXPECT_TRUE(advance(240 * kS - 1).empty());
  auto offline = advance(1);
  ASSERT_EQ(offline.size(), 1u);
  EXPECT_EQ(offline[0].from, DeviceStatus::kAtRisk);
  EXPECT_EQ(offline[0].to, DeviceStatus::kOffline);
  EXPECT_EQ(t.next_deadline(), kNoDeadline) << "an offline device costs nothing";
}

TEST_F(TrackerTest, ReportsPushTheDeadlineWithoutTransitions) {
  t.add(dev("d1"));
  report("d1");
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(advance(50 * kS).empty());
    EXPECT_FALSE(report("d1"));
  }
  EXPECT_EQ(t.get("d1")->status, DeviceStatus::kOnline);
}

TEST_F(TrackerTest, OfflineDeviceComesBackOnlineOnReport) {
  t.add(dev("d1"));
  report("d1");
  advance(301 * kS);
  ASSERT_EQ(t.get("d1")->status, DeviceStatus::kOffline);
  auto back = report("d1");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->from, DeviceStatus::kOffline);
  EXPECT_EQ(back->to, DeviceStatus::kOnline);
}

TEST_F(TrackerTest, LowBatteryIsAtRiskAndRecoveryIsOnline) {
  t.add(dev("d1"));
  auto low = report("d1", 15.0);
  ASSERT_TRUE(low);
  EXPECT_EQ(low->to, DeviceStatus::kAtRisk);
  EXPECT_NE(low->reason.find("battery"), std::string::npos);
  auto ok = report("d1", 80.0);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->to, DeviceStatus::kOnline);
}

TEST_F(TrackerTest, PerTypeThresholdsApply) {
  t.add(dev("cam", "camera"));
  t.add(dev("sensor"));
  report("cam", 15.0);  // camera low-battery threshold is 10
  report("sensor");
  EXPECT_EQ(t.get("cam")->status, DeviceStatus::kOnline);
  advance(120 * kS);
  EXPECT_EQ(t.get("sensor")->status, DeviceStatus::kAtRisk);
  EXPECT_EQ(t.get("cam")->status, DeviceStatus::kOnline);
}

TEST_F(TrackerTest, ChangingTypeReevaluatesWithNewThresholds) {
  t.add(dev("d1"));
  report("d1");
  advance(120 * kS);
  ASSERT_EQ(t.get("d1")->status, DeviceStatus::kAtRisk);
  auto tr = t.set_type("d1", "camera");
  ASSERT_TRUE(tr);
  EXPECT_EQ(tr->to, DeviceStatus::kOnline);
}

TEST_F(TrackerTest, LearnedCadenceMakesAFastReporterAtRiskWhenLate) {
  t.add(dev("d1"));
  for (int i = 0; i < 8; ++i) {
    report("d1");
    EXPECT_TRUE(advance(5 * kS).empty());
  }
  // Reports every 5 s; silent for > 3 x 5 s is late, long before at_risk_after (60 s).
  auto late = advance(11 * kS);
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0].to, DeviceStatus::kAtRisk);
  EXPECT_NE(late[0].reason.find("late"), std::string::npos) << late[0].reason;
  EXPECT_EQ(report("d1")->to, DeviceStatus::kOnline);
}

TEST_F(TrackerTest, BurstsOfReportsDoNotTeachACadence) {
  t.add(dev("d1"));
  for (int i = 0; i < 20; ++i) {
    report("d1");
    clock.advance(50);  // 20 reports within one second
  }
  EXPECT_FALSE(t.get("d1")->cadence_ms.has_value());
  EXPECT_TRUE(advance(30 * kS).empty()) << "a pause after a burst is not lateness";
  EXPECT_EQ(t.get("d1")->status, DeviceStatus::kOnline);
}

TEST_F(TrackerTest, CountsAreMaintainedIncrementally) {
  for (int i = 0; i < 5; ++i) t.add(dev("d" + std::to_string(i)));
  for (int i = 0; i < 3; ++i) report("d" + std::to_string(i));
  auto c = t.counts();
  EXPECT_EQ(c[static_cast<size_t>(DeviceStatus::kUnknown)], 2);
  EXPECT_EQ(c[static_cast<size_t>(DeviceStatus::kOnline)], 3);
  advance(400 * kS);
  c = t.counts();
  EXPECT_EQ(c[static_cast<size_t>(DeviceStatus::kOffline)], 3);
  t.remove("d0");
  EXPECT_EQ(t.counts()[static_cast<size_t>(DeviceStatus::kOffline)], 2);
  EXPECT_EQ(t.size(), 4u);
}

TEST_F(TrackerTest, RemovedDeviceDeadlineIsIgnored) {
  t.add(dev("d1"));
  report("d1");
  t.remove("d1");
  EXPECT_TRUE(advance(400 * kS).empty());
}

TEST_F(TrackerTest, DeviceLoadedAfterDowntimeIsReevaluatedOnAdd) {
  Device d = dev("d1");
  d.status = DeviceStatus::kOnline;
  d.last_seen_ms = clock.now_ms() - 3600 * kS;
  auto tr = t.add(d);
  ASSERT_TRUE(tr);
  EXPECT_EQ(tr->from, DeviceStatus::kOnline);
  EXPECT_EQ(tr->to, DeviceStatus::kOffline);
}

TEST_F(TrackerTest, IdleFleetWorkGrowsWithChangesNotSize) {
  // 10k devices report once, then go quiet: each changes status twice, and after that no
  // deadline remains, however long time runs.
  for (int i = 0; i < 10'000; ++i) {
    t.add(dev("d" + std::to_string(i)));
    report("d" + std::to_string(i));
  }
  EXPECT_EQ(advance(61 * kS).size(), 10'000u);
  EXPECT_EQ(advance(300 * kS).size(), 10'000u);
  EXPECT_EQ(t.next_deadline(), kNoDeadline);
  EXPECT_TRUE(advance(86'400 * kS).empty());
}

TEST(StatusPolicy, EvaluateGivesTheNextChangeTime) {
  StatusPolicy p = policy();
  StatusFacts f{1000, 50.0, std::nullopt};
  auto e = evaluate_status(f, p.defaults, p, 1000);
  EXPECT_EQ(e.status, DeviceStatus::kOnline);
  EXPECT_EQ(e.next_change_ms, 1000 + 60 * kS + 1);
  e = evaluate_status(f, p.defaults, p, 1000 + 100 * kS);
  EXPECT_EQ(e.status, DeviceStatus::kAtRisk);
  EXPECT_EQ(e.next_change_ms, 1000 + 300 * kS + 1);
}

// Cluster mode: a deadline of a device whose partition this node does not serve now changes
// nothing (a node woken from SIGSTOP past its lease); it is looked at again later, and fires
// once the partition is served again.
TEST_F(TrackerTest, DeadlinesOfDevicesNotOwnedDoNotFire) {
  bool owned = false;
  t.set_owner_filter([&owned](const std::string&) { return owned; });
  t.add(dev("d1"));
  report("d1");
  EXPECT_TRUE(advance(400 * kS).empty());
  EXPECT_EQ(t.get("d1")->status, DeviceStatus::kOnline);
  EXPECT_NE(t.next_deadline(), kNoDeadline) << "still watched";
  owned = true;
  auto due = advance(1 * kS);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].to, DeviceStatus::kOffline);
}

}  // namespace
}  // namespace fp
