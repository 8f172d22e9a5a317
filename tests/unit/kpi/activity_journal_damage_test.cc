// A damaged record in the middle of the KPI activity journal costs only itself: the records
// after it are read, the damaged journal is kept whole in quarantine, the live journal is
// rewritten from what was read (the damage is not met again), and the stats say so.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "kpi/device_activity_log.h"
#include "storage/fs/posix_file_system.h"
#include "unit/temp_dir.h"

namespace fp {
namespace {

constexpr int64_t kNow = 1'767'225'600'000;  // 2026-01-01T00:00:00Z

class ActivityJournalDamageTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = make_temp_dir("fp_activity_"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<DeviceActivityLog> open() {
    auto log = std::make_unique<DeviceActivityLog>();
    Status s = log->open(PosixFileSystem::instance(), (dir_ / "kpi").string());
    EXPECT_TRUE(s.ok()) << s.message();
    return log;
  }
  std::string read(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
  }
  void write(const std::filesystem::path& p, const std::string& bytes) {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f << bytes;
  }

  std::filesystem::path dir_;
};

TEST_F(ActivityJournalDamageTest, AFlippedByteInTheMiddleLosesOnlyItsRecord) {
  {
    auto log = open();
    for (int i = 0; i < 40; ++i) log->record_message("d" + std::to_string(i % 4), kNow + i, 10);
    ASSERT_TRUE(log->write_pending().ok());
  }
  const auto path = dir_ / "kpi" / "activity.journal";
  std::string bytes = read(path);
  const std::string original = bytes;
  bytes[bytes.size() / 2] ^= 0x5a;  // inside one record in the middle
  write(path, bytes);

  uint64_t total = 0;
  {
    auto log = open();
    const ActivityJournalStats st = log->journal_stats();
    EXPECT_EQ(st.damaged_stretches, 1u);
    EXPECT_GT(st.damaged_bytes, 0u);
    EXPECT_LT(st.damaged_bytes, 64u);  // one record, not the rest of the journal
    EXPECT_EQ(st.dropped_bytes, 0u);
    EXPECT_NE(st.quarantined.find("quarantine/activity.journal.1"), std::string::npos);
    for (int d = 0; d < 4; ++d) total += log->activity("d" + std::to_string(d), 0).totals.messages;
    EXPECT_EQ(total, 39u);  // 40 recorded, one record lost (the records after it are read)
    log->record_message("d0", kNow + 100, 10);
    ASSERT_TRUE(log->write_pending().ok());
  }
  // Kept whole, never deleted.
  EXPECT_EQ(read(dir_ / "kpi" / "quarantine" / "activity.journal.1"), bytes);
  // The rewritten journal holds what was read and goes on; the damage is not met again.
  auto log = open();
  EXPECT_EQ(log->journal_stats().damaged_stretches, 0u);
  uint64_t again = 0;
  for (int d = 0; d < 4; ++d) again += log->activity("d" + std::to_string(d), 0).totals.messages;
  EXPECT_EQ(again, total + 1);
}

TEST_F(ActivityJournalDamageTest, DamageAtTheEndIsStillATornTailCutSilently) {
  {
    auto log = open();
    for (int i = 0; i < 10; ++i) log->record_message("d", kNow + i, 10);
    ASSERT_TRUE(log->write_pending().ok());
  }
  const auto path = dir_ / "kpi" / "activity.journal";
  std::string bytes = read(path);
  bytes[bytes.size() - 2] ^= 0x5a;  // the last record
  write(path, bytes);
  auto log = open();
  EXPECT_EQ(log->journal_stats().damaged_stretches, 0u);
  EXPECT_GT(log->journal_stats().dropped_bytes, 0u);
  EXPECT_EQ(log->activity("d", 0).totals.messages, 9u);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "kpi" / "quarantine"));
}

}  // namespace
}  // namespace fp
