// DeviceActivityLog with its journal: what was written is rebuilt exactly by the next open
// (also from a copy taken while the log is open, as a crash leaves it), a torn tail is cut,
// the compacted journal rebuilds the same state, forget/clear are replayed, and the counts
// say which span they cover.

#include "kpi/device_activity_log.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "storage/fs/posix_file_system.h"
#include "unit/temp_dir.h"

namespace fp {
namespace {

constexpr int64_t kHour = 3'600'000;
constexpr int64_t kNow = 1'767'225'600'000;  // 2026-01-01T00:00:00Z

class DeviceActivityJournalTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = make_temp_dir("fp_activity_"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<DeviceActivityLog> open(const std::string& sub = "kpi") {
    auto log = std::make_unique<DeviceActivityLog>();
    Status s = log->open(PosixFileSystem::instance(), (dir_ / sub).string());
    EXPECT_TRUE(s.ok()) << s.message();
    return log;
  }

  static void fill(DeviceActivityLog& log) {
    for (int h = 0; h < 30; ++h) {  // more hours than are kept
      log.record_message("d1", kNow - (29 - h) * kHour, 100);
      log.record_messages("d1", kNow - (29 - h) * kHour + 10, 2, 50);
    }
    log.record_rejected("d1", kNow, 3);
    for (int i = 0; i < 20; ++i) log.record_response_time("d1", kNow - 1000 + i, 10.0 + i);
    for (int i = 0; i < 60; ++i) log.record_battery("d1", kNow - (59 - i) * kHour, 100 - i);
    log.record_battery("d1", kNow - 1, 1);  // too close to the last sample: ignored
    log.record_message("d2", kNow, 7);
    ASSERT_TRUE(log.write_pending().ok());
  }

  static void expect_same(const DeviceActivity& a, const DeviceActivity& b) {
    EXPECT_EQ(a.totals.messages, b.totals.messages);
    EXPECT_EQ(a.totals.bytes, b.totals.bytes);
    EXPECT_EQ(a.totals.rejected, b.totals.rejected);
    EXPECT_EQ(a.response_ms, b.response_ms);
    ASSERT_EQ(a.battery.size(), b.battery.size());
    for (size_t i = 0; i < a.battery.size(); ++i) {
      EXPECT_EQ(a.battery[i].at_ms, b.battery[i].at_ms);
      EXPECT_EQ(a.battery[i].level, b.battery[i].level);
    }
    EXPECT_EQ(a.totals_since_ms, b.totals_since_ms);
  }

  std::filesystem::path dir_;
};

TEST_F(DeviceActivityJournalTest, ReopeningRestoresExactlyWhatWasRecorded) {
  DeviceActivity before, before_d2;
  {
    auto log = open();
    fill(*log);
    before = log->activity("d1", kNow - 48 * kHour);
    before_d2 = log->activity("d2", kNow - kHour);
  }
  EXPECT_EQ(before.totals.messages, 3u * 25);  // 25 hours kept of the 30
  EXPECT_EQ(before.totals.rejected, 3u);
  EXPECT_EQ(before.response_ms.size(), 16u);
  EXPECT_EQ(before.battery.size(), 48u);
  auto log = open();
  expect_same(log->activity("d1", kNow - 48 * kHour), before);
  expect_same(log->activity("d2", kNow - kHour), before_d2);
  EXPECT_GT(log->journal_stats().replayed, 0u);
}

TEST_F(DeviceActivityJournalTest, ACopyTakenWhileOpenHasEverythingWrittenLikeAfterACrash) {
  auto log = open();
  fill(*log);
  log->record_message("d3", kNow, 1);  // recorded but not written yet
  std::filesystem::copy(dir_ / "kpi", dir_ / "crashed");
  auto restored = open("crashed");
  expect_same(restored->activity("d1", kNow - 48 * kHour), log->activity("d1", kNow - 48 * kHour));
  EXPECT_EQ(restored->activity("d3", 0).totals.messages, 0u);  // write_pending() had not run
  // Rejections are written when recorded.
  log->record_rejected("d4", kNow);
  std::filesystem::copy(dir_ / "kpi", dir_ / "crashed2");
  EXPECT_EQ(open("crashed2")->activity("d4", 0).totals.rejected, 1u);
}

TEST_F(DeviceActivityJournalTest, ATornTailIsCutAndTheJournalGoesOn) {
  {
    auto log = open();
    fill(*log);
  }
  const auto path = dir_ / "kpi" / "activity.journal";
  const auto size = std::filesystem::file_size(path);
  {
    std::ofstream f(path, std::ios::binary | std::ios::app);
    f << std::string("\x30\x00\x00\x00garbage", 11);  // a record cut short by the crash
  }
  {
    auto log = open();
    EXPECT_EQ(log->journal_stats().dropped_bytes, 11u);
    EXPECT_EQ(std::filesystem::file_size(path), size);
    EXPECT_EQ(log->activity("d2", 0).totals.messages, 1u);
    log->record_message("d2", kNow, 1);
    ASSERT_TRUE(log->write_pending().ok());
  }
  EXPECT_EQ(open()->activity("d2", 0).totals.messages, 2u);
}

TEST_F(DeviceActivityJournalTest, TheCompactedJournalRebuildsTheSameStateAndIsSmaller) {
  DeviceActivity before;
  uint64_t grown = 0;
  {
    auto log = open();
    for (int i = 0; i < 2000; ++i) log->record_message("d1", kNow - (i % 20) * kHour, 10);
    fill(*log);
    grown = log->journal_stats().bytes;
    ASSERT_TRUE(log->sync(0).ok());  // over 0 bytes: rewrite now
    EXPECT_EQ(log->journal_stats().compactions, 1u);
    EXPECT_LT(log->journal_stats().bytes, grown / 4);
    log->record_message("d1", kNow, 10);  // appended after the rewrite
    ASSERT_TRUE(log->write_pending().ok());
    before = log->activity("d1", kNow - 48 * kHour);
  }
  expect_same(open()->activity("d1", kNow - 48 * kHour), before);
}

TEST_F(DeviceActivityJournalTest, ForgetAndClearAreReplayed) {
  {
    auto log = open();
    fill(*log);
    log->forget("d1");
    log->record_message("d1", kNow, 5);  // registered again
    ASSERT_TRUE(log->write_pending().ok());
  }
  {
    auto log = open();
    EXPECT_EQ(log->activity("d1", 0).totals.messages, 1u);
    EXPECT_EQ(log->activity("d2", 0).totals.messages, 1u);
    log->clear();
  }
  EXPECT_EQ(open()->activity("d2", 0).totals.messages, 0u);
}

TEST_F(DeviceActivityJournalTest, AJournalOfAnotherVersionIsMovedAsideNotDeleted) {
  std::filesystem::create_directories(dir_ / "kpi");
  {
    std::ofstream f(dir_ / "kpi" / "activity.journal", std::ios::binary);
    f << "FPKPIA\x09\x00 from the future";
  }
  auto log = open();
  EXPECT_TRUE(std::filesystem::exists(dir_ / "kpi" / "activity.journal.unreadable"));
  EXPECT_EQ(log->activity("d1", 0).totals.messages, 0u);
}

TEST_F(DeviceActivityJournalTest, CountsSayWhichSpanTheyCover) {
  DeviceActivityLog log;  // memory only
  log.record_message("d1", kNow - 30 * kHour, 1);
  log.record_message("d1", kNow, 1);
  // A 7-day window: only the last 25 hours are kept, and the activity says so.
  const DeviceActivity a = log.activity("d1", kNow - 7 * 24 * kHour);
  EXPECT_EQ(a.totals.messages, 1u);
  EXPECT_EQ(a.totals_since_ms, kNow - 24 * kHour);
  // A short window starts where it starts.
  EXPECT_EQ(log.activity("d1", kNow - kHour).totals_since_ms, kNow - kHour);
  // Records older than every hour kept change nothing (they would clobber a newer hour).
  log.record_message("d1", kNow - 26 * kHour, 1);
  EXPECT_EQ(log.activity("d1", 0).totals.messages, 1u);
}

// Hours recorded out of order over more hours than are kept: the totals are those of a plain
// model (an hour counts when it is within kHours of the newest hour seen when it arrived and
// of the newest hour now), for every window start.
TEST_F(DeviceActivityJournalTest, OutOfOrderHoursKeepExactlyTheHoursOfTheWindow) {
  DeviceActivityLog log;              // memory only
  std::map<int64_t, uint64_t> model;  // hour -> messages
  int64_t newest = -1;
  uint64_t seed = 7;
  for (int i = 0; i < 400; ++i) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    const int64_t hour = static_cast<int64_t>((seed >> 33) % 40) + (i / 40);  // drifts forward
    const uint64_t n = 1 + (seed >> 20) % 5;
    log.record_messages("d1", kNow + hour * kHour + 17, n, 1);
    if (newest >= 0 && hour <= newest - DeviceActivityLog::kHours) continue;  // dropped
    newest = std::max(newest, hour);
    model[hour] += n;
    std::erase_if(model, [&](const auto& e) {  // forget what fell out of the window
      return e.first <= newest - DeviceActivityLog::kHours;
    });
  }
  for (int64_t since = newest - 30; since <= newest + 1; ++since) {
    uint64_t want = 0;
    for (const auto& [hour, n] : model)
      if (hour >= since) want += n;
    EXPECT_EQ(log.activity("d1", kNow + since * kHour).totals.messages, want) << since;
  }
}

}  // namespace
}  // namespace fp
