// KpiHistorySampler::measure: the points one sample writes, checked against figures worked out
// by hand (message counts across an hour boundary, availability from the status history,
// roll-ups by type).
#include "kpi/kpi_history.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "kpi/kpi_series_keys.h"
#include "storage/catalog/sqlite_catalog.h"

namespace fp {
namespace {

constexpr int64_t kHour = 3'600'000;
constexpr int64_t kStart = 1'767'225'600'000;  // a whole hour

class KpiHistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kpi_history_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto c = SqliteCatalog::open((dir_ / "catalog.db").string(), clock_);
    ASSERT_TRUE(c.ok()) << c.status().message();
    catalog_ = std::move(*c);
    ingestor_ = std::make_unique<Ingestor>(*catalog_, tracker_, nullptr, clock_, IngestorOptions{});
    sampler_ = std::make_unique<KpiHistorySampler>(*catalog_, tracker_, activity_, *ingestor_,
                                                   clock_, 60'000);
  }
  void TearDown() override {
    sampler_.reset();
    ingestor_.reset();
    catalog_.reset();
    std::filesystem::remove_all(dir_);
  }

  void add_device(const std::string& id, const std::string& type) {
    Device d;
    d.device_id = id;
    d.type = type;
    d.created_at_ms = d.updated_at_ms = clock_.now_ms();
    ASSERT_TRUE(catalog_->create_device(d).ok());
    tracker_.add(d);
  }

  // (store key, metric) -> value of one sample.
  std::map<std::pair<std::string, std::string>, double> sample(int64_t at) {
    clock_.set(at);
    auto b = sampler_->measure(at);
    EXPECT_TRUE(b.ok());
    std::map<std::pair<std::string, std::string>, double> out;
    for (const Point& p : (*b)->points()) {
      EXPECT_EQ(p.ts_ms, at);
      out[{(*b)->devices()[p.device], (*b)->metrics()[p.metric]}] = p.value;
    }
    return out;
  }

  std::filesystem::path dir_;
  ManualClock clock_{kStart};
  DeviceStatusTracker tracker_{StatusPolicy{}, clock_};
  DeviceActivityLog activity_;
  std::unique_ptr<SqliteCatalog> catalog_;
  std::unique_ptr<Ingestor> ingestor_;
  std::unique_ptr<KpiHistorySampler> sampler_;
};

TEST_F(KpiHistoryTest, CountsMessagesBetweenSamplesAcrossAnHour) {
  add_device("a", "meter");
  const std::string key = kpi_keys::device_key("a");
  activity_.record_messages("a", kStart + 10'000, 3, 300);
  // The first sample takes the baseline: no counts yet.
  auto s = sample(kStart + 60'000);
  EXPECT_EQ(s.count({key, "messages"}), 0u);
  activity_.record_messages("a", kStart + 70'000, 2, 200);
  activity_.record_rejected("a", kStart + 80'000);
  s = sample(kStart + 120'000);
  EXPECT_EQ((s[{key, "messages"}]), 2);
  EXPECT_EQ((s[{key, "errors"}]), 1);
  // One message late in the hour, four in the next: the sample after the boundary has 5.
  activity_.record_messages("a", kStart + kHour - 1000, 1, 100);
  activity_.record_messages("a", kStart + kHour + 1000, 4, 400);
  s = sample(kStart + kHour + 60'000);
  EXPECT_EQ((s[{key, "messages"}]), 5);
  EXPECT_EQ((s[{key, "errors"}]), 0);
  // Nothing new: zero, not absent.
  s = sample(kStart + kHour + 120'000);
  EXPECT_EQ((s[{key, "messages"}]), 0);
  // The type roll-up sums them.
  EXPECT_EQ((s[{kpi_keys::type_key("meter"), "messages"}]), 0);
  EXPECT_EQ((s[{kpi_keys::type_key("meter"), "devices"}]), 1);
}

TEST_F(KpiHistoryTest, EachSampleWritesWhatTheNextCountsFromWhenItChanged) {
  add_device("a", "meter");
  const std::string base = kpi_keys::baseline_key("a");
  const std::pair<std::string, std::string> sampled{std::string(kpi_keys::kSampledKey), "sampled"};
  activity_.record_messages("a", kStart + 10'000, 3, 300);
  activity_.record_rejected("a", kStart + 20'000);
  auto s = sample(kStart + 60'000);
  EXPECT_EQ((s[{base, "hour_messages"}]), 3);
  EXPECT_EQ((s[{base, "hour_errors"}]), 1);
  EXPECT_EQ(s[sampled], 1);
  // Unchanged: not written again (the last write still holds), but the sample is marked.
  s = sample(kStart + 120'000);
  EXPECT_EQ(s.count({base, "hour_messages"}), 0u);
  EXPECT_EQ(s.count(sampled), 1u);
  // A new hour without reports: not written (a restart infers zero from the older hour).
  s = sample(kStart + kHour + 60'000);
  EXPECT_EQ(s.count({base, "hour_messages"}), 0u);
  activity_.record_messages("a", kStart + kHour + 70'000, 2, 200);
  s = sample(kStart + kHour + 120'000);
  EXPECT_EQ((s[{base, "hour_messages"}]), 2);
  EXPECT_EQ((s[{base, "hour_errors"}]), 0);
}

TEST_F(KpiHistoryTest, ADeviceCreatedAgainUnderItsIdCountsFromZero) {
  add_device("re", "meter");
  const std::string key = kpi_keys::device_key("re");
  activity_.record_messages("re", kStart + 10'000, 7, 700);
  sample(kStart + 60'000);  // baseline: 7 this hour
  // Deleted (the activity log forgets it) and created again, then 2 reports: 2, not 0.
  ASSERT_TRUE(catalog_->delete_device("re").ok());
  activity_.forget("re");
  tracker_.remove("re");
  clock_.set(kStart + 70'000);
  add_device("re", "meter");
  activity_.record_messages("re", kStart + 80'000, 2, 200);
  auto s = sample(kStart + 120'000);
  EXPECT_EQ((s[{key, "messages"}]), 2);
}

TEST_F(KpiHistoryTest, AvailabilityIsTheOnlineShareOfTheInterval) {
  add_device("on", "pump");
  add_device("never", "pump");
  add_device("untyped", "");
  sample(kStart + 1'000);  // baseline
  // "on" reports 30 s into a 60 s interval: online for the second half.
  clock_.set(kStart + 31'000);
  auto t = tracker_.observe("on", kStart + 31'000, 55.0, std::nullopt);
  ASSERT_TRUE(t.has_value());
  auto u = tracker_.observe("untyped", kStart + 31'000, std::nullopt, std::nullopt);
  ASSERT_TRUE(u.has_value());
  ASSERT_TRUE(catalog_->apply_reports({}, {}, std::vector<StatusTransition>{*t, *u}).ok());
  auto s = sample(kStart + 61'000);
  EXPECT_NEAR((s[{kpi_keys::device_key("on"), "availability"}]), 50.0, 1e-9);
  // "never" has nothing to record: no series of its own, counted by its type as 0 %.
  EXPECT_EQ(s.count({kpi_keys::device_key("never"), "availability"}), 0u);
  EXPECT_NEAR((s[{kpi_keys::type_key("pump"), "availability"}]), 25.0, 1e-9);
  EXPECT_EQ((s[{kpi_keys::device_key("on"), "battery_level"}]), 55.0);
  EXPECT_EQ(s.count({kpi_keys::device_key("never"), "battery_level"}), 0u);
  EXPECT_EQ((s[{kpi_keys::type_key("pump"), "devices"}]), 2);
  // A device without a type has its own series but no roll-up.
  EXPECT_EQ(s.count({kpi_keys::device_key("untyped"), "availability"}), 1u);
  EXPECT_EQ(s.count({kpi_keys::type_key(""), "devices"}), 0u);
}

TEST_F(KpiHistoryTest, ResponseTimeIsTheMeanOfTheIntervalsSamples) {
  add_device("r", "tracker");
  sample(kStart + 1'000);
  activity_.record_response_time("r", kStart + 10'000, 100);
  activity_.record_response_time("r", kStart + 20'000, 300);
  auto s = sample(kStart + 61'000);
  EXPECT_NEAR((s[{kpi_keys::device_key("r"), "response_time_ms"}]), 200.0, 1e-9);
  EXPECT_NEAR((s[{kpi_keys::type_key("tracker"), "response_time_ms"}]), 200.0, 1e-9);
  // None in the next interval: no point (not a zero).
  s = sample(kStart + 121'000);
  EXPECT_EQ(s.count({kpi_keys::device_key("r"), "response_time_ms"}), 0u);
}

TEST_F(KpiHistoryTest, ADeviceThatNeverReportedWritesNoSeriesUntilItHasSomethingToRecord) {
  for (int i = 0; i < 100; ++i) add_device("idle-" + std::to_string(i), "valve");
  sample(kStart + 1'000);
  auto s = sample(kStart + 61'000);
  for (const auto& [key, value] : s) EXPECT_FALSE(key.first.starts_with(kpi_keys::kDevicePrefix));
  EXPECT_EQ((s[{kpi_keys::type_key("valve"), "devices"}]), 100);
  EXPECT_EQ((s[{kpi_keys::type_key("valve"), "availability"}]), 0);
  EXPECT_EQ((s[{kpi_keys::type_key("valve"), "messages"}]), 0);
  // A rejected report is something to record (its errors), without a status change.
  activity_.record_rejected("idle-7", kStart + 70'000);
  s = sample(kStart + 121'000);
  EXPECT_EQ((s[{kpi_keys::device_key("idle-7"), "errors"}]), 1);
  EXPECT_EQ((s[{kpi_keys::device_key("idle-7"), "availability"}]), 0);
  EXPECT_EQ(s.count({kpi_keys::device_key("idle-8"), "errors"}), 0u);
}

// The roll-ups of a mixed fleet (devices that never reported, of several types and none;
// devices that reported; one with only a rejected report) are the same whether the devices
// that never reported are counted from the status tracker's counts (no read of them) or by
// the catalog's scan: a second sampler whose tracker also holds a device registered just now
// (not in the catalog) counts them in SQL.
TEST_F(KpiHistoryTest, RollUpsFromTheTrackersNeverSeenCountsEqualTheCatalogScans) {
  DeviceStatusTracker other{StatusPolicy{}, clock_};
  Ingestor other_ingestor(*catalog_, other, nullptr, clock_, IngestorOptions{});
  KpiHistorySampler other_sampler(*catalog_, other, activity_, other_ingestor, clock_, 60'000);
  auto add = [&](const std::string& id, const std::string& type) {
    add_device(id, type);
    other.add(*catalog_->get_device(id));
  };
  for (int i = 0; i < 5; ++i) add("valve-" + std::to_string(i), "valve");
  for (int i = 0; i < 3; ++i) add("pump-" + std::to_string(i), "pump");
  add("untyped-0", "");
  add("untyped-1", "");
  add("meter-0", "meter");
  add("meter-1", "meter");
  auto both = [&](int64_t at) {
    auto mine = sample(at);
    auto b = other_sampler.measure(at);
    EXPECT_TRUE(b.ok());
    std::map<std::pair<std::string, std::string>, double> theirs;
    for (const Point& p : (*b)->points())
      theirs[{(*b)->devices()[p.device], (*b)->metrics()[p.metric]}] = p.value;
    EXPECT_EQ(mine, theirs) << "at " << at;
    return mine;
  };
  both(kStart + 60'000);
  const int64_t seen = kStart + 90'000;
  clock_.set(seen);
  std::vector<StatusTransition> transitions;
  std::vector<DeviceLiveUpdate> updates;
  for (const char* id : {"meter-0", "valve-1", "untyped-0"}) {
    auto t = tracker_.observe(id, seen, 40.0, std::nullopt);
    other.observe(id, seen, 40.0, std::nullopt);
    ASSERT_TRUE(t.has_value()) << id;
    transitions.push_back(*t);
    DeviceLiveUpdate u;
    u.device_id = id;
    u.last_seen_ms = seen;
    u.battery_level = 40.0;
    updates.push_back(u);
  }
  ASSERT_TRUE(catalog_->apply_reports({}, updates, transitions).ok());
  activity_.record_messages("meter-0", seen, 2, 200);
  activity_.record_rejected("pump-2", seen + 1'000);
  const int64_t at = kStart + 120'000;
  Device just_now;
  just_now.device_id = "registered-just-now";
  just_now.type = "valve";
  just_now.created_at_ms = at;
  other.add(just_now);
  auto s = both(at);
  EXPECT_EQ((s[{kpi_keys::type_key("valve"), "devices"}]), 5);
  EXPECT_EQ((s[{kpi_keys::type_key("pump"), "devices"}]), 3);
  EXPECT_EQ((s[{kpi_keys::type_key("meter"), "devices"}]), 2);
  EXPECT_NEAR((s[{kpi_keys::type_key("valve"), "availability"}]), 100.0 / 5 / 2, 1e-9);
  EXPECT_EQ((s[{kpi_keys::type_key("pump"), "errors"}]), 1);
  EXPECT_EQ((s[{std::string(kpi_keys::kSampledKey), "sampled"}]), 12);
}

}  // namespace
}  // namespace fp
