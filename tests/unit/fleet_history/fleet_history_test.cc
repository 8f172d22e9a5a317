// The fleet history file: samples survive reopening, a torn last line (a crash mid-append) and
// corrupt lines are skipped, expired samples are dropped, compaction keeps the window, and a
// file of another kind is set aside rather than deleted.
#include "fleet_history/fleet_history.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fp {
namespace {

namespace fs = std::filesystem;

class FleetHistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("fleet-history-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "fleet_history.log").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string read_file() const {
    std::ifstream in(path_, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  static FleetSample sample(int64_t ts, int64_t online = 3) {
    return FleetSample{ts, 12.5, online, 1, 2, 0, 4};
  }

  fs::path dir_;
  std::string path_;
};

constexpr int64_t kDay = 86'400'000;
constexpr int64_t kT0 = 1'767'225'600'000;

TEST_F(FleetHistoryTest, SamplesSurviveReopening) {
  {
    auto h = FleetHistory::open(path_, kDay, kT0);
    ASSERT_TRUE(h.ok()) << h.status().message();
    for (int i = 0; i < 5; ++i) ASSERT_TRUE((*h)->append(sample(kT0 + i * 60'000, i)).ok());
  }
  auto h = FleetHistory::open(path_, kDay, kT0 + 300'000);
  ASSERT_TRUE(h.ok());
  const auto all = (*h)->range(0, INT64_MAX);
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[3], sample(kT0 + 180'000, 3));
  EXPECT_EQ((*h)->range(kT0 + 60'000, kT0 + 120'000).size(), 2u);
}

TEST_F(FleetHistoryTest, WhatIsServedIsWhatARestartReadsBack) {
  FleetSample s = sample(kT0);
  s.ingest_per_s = 4.901960784313726;  // more digits than the file keeps
  std::vector<FleetSample> served;
  {
    auto h = FleetHistory::open(path_, kDay, kT0);
    ASSERT_TRUE(h.ok());
    ASSERT_TRUE((*h)->append(s).ok());
    served = (*h)->range(0, INT64_MAX);
  }
  auto h = FleetHistory::open(path_, kDay, kT0);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ((*h)->range(0, INT64_MAX), served);
  EXPECT_DOUBLE_EQ(served.at(0).ingest_per_s, 4.902);
}

TEST_F(FleetHistoryTest, TornLastLineIsSkippedAndTheFileStaysAppendable) {
  {
    auto h = FleetHistory::open(path_, kDay, kT0);
    ASSERT_TRUE(h.ok());
    ASSERT_TRUE((*h)->append(sample(kT0)).ok());
    ASSERT_TRUE((*h)->append(sample(kT0 + 60'000)).ok());
  }
  std::string content = read_file();
  content.resize(content.size() - 7);  // the crash cut the last line short
  std::ofstream(path_, std::ios::binary | std::ios::trunc) << content;
  auto h = FleetHistory::open(path_, kDay, kT0 + 60'000);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ((*h)->skipped_lines(), 1u);
  ASSERT_TRUE((*h)->append(sample(kT0 + 120'000)).ok());
  h->reset();
  auto again = FleetHistory::open(path_, kDay, kT0 + 120'000);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->skipped_lines(), 0u);
  ASSERT_EQ((*again)->range(0, INT64_MAX).size(), 2u);
}

TEST_F(FleetHistoryTest, ALineWithAWrongChecksumIsSkipped) {
  std::string line = encode_fleet_sample(sample(kT0));
  std::string bad = line;
  bad[bad.find(' ') + 1] = '9';  // a flipped digit in the rate
  std::ofstream(path_, std::ios::binary)
      << kFleetHistoryHeader << bad << encode_fleet_sample(sample(kT0 + 1));
  auto h = FleetHistory::open(path_, kDay, kT0);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ((*h)->skipped_lines(), 1u);
  ASSERT_EQ((*h)->range(0, INT64_MAX).size(), 1u);
}

TEST_F(FleetHistoryTest, SamplesOlderThanTheWindowAreDroppedAndTheFileCompacted) {
  auto h = FleetHistory::open(path_, 10'000, kT0);
  ASSERT_TRUE(h.ok());
  for (int i = 0; i < 500; ++i) ASSERT_TRUE((*h)->append(sample(kT0 + i * 1000)).ok());
  const auto kept = (*h)->range(0, INT64_MAX);
  ASSERT_EQ(kept.size(), 10u);
  EXPECT_EQ(kept.front().ts_ms, kT0 + 490'000);
  auto decoded = decode_fleet_history(read_file());
  ASSERT_TRUE(decoded.ok());
  EXPECT_LE(decoded->samples.size(), 2 * 10u + 64 + 1);
}

TEST_F(FleetHistoryTest, AFileOfAnotherKindIsSetAsideNotDeleted) {
  std::ofstream(path_, std::ios::binary) << "something else\n";
  auto h = FleetHistory::open(path_, kDay, kT0);
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE((*h)->range(0, INT64_MAX).empty());
  EXPECT_TRUE(fs::exists(path_ + ".corrupt-" + std::to_string(kT0)));
}

TEST(FleetHistoryFormat, EncodedSamplesDecodeToThemselves) {
  const FleetSample s{kT0, 1234.567, 10, 2, 3, 4, 5};
  auto d = decode_fleet_history(std::string(kFleetHistoryHeader) + encode_fleet_sample(s));
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->samples.size(), 1u);
  EXPECT_EQ(d->samples[0], s);
  EXPECT_FALSE(decode_fleet_history("fleetpulse-fleet-history v2\n").ok());
}

}  // namespace
}  // namespace fp
