// Server timestamps as a spec: a point without a device timestamp gets the first free
// millisecond of its series at or after its receive time, strictly increasing per series, never
// the millisecond of a stored point or of an explicit point written before it in the same
// commit group; explicit points are never moved.
#include "ingest/server_timestamps.h"

#include <gtest/gtest.h>

#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "storage/fs/fault_injecting_file_system.h"
#include "storage/tsdb/time_series_store.h"

namespace fp {
namespace {

constexpr int64_t kT = 1'767'225'600'000;

class ServerTimestampsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tsdb::StoreOptions o;
    o.dir = "/data/tsdb";
    o.background = false;
    auto s = tsdb::TimeSeriesStore::open(fs_, o, {}, nullptr);
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(s).value();
    stamps_ = std::make_unique<ServerTimestamps>(*store_);
  }

  // Commits a group the way the Ingestor does: stamp, log, commit, apply.
  void commit(std::vector<ReadingBatch*> group) {
    stamps_->stamp_group(group);
    for (ReadingBatch* b : group) ASSERT_TRUE(store_->log(*b, kT).ok());
    ASSERT_TRUE(store_->commit().ok());
    for (ReadingBatch* b : group) store_->apply(*b);
    stamps_->end_group();
  }

  std::vector<int64_t> stored(const std::string& device, const std::string& metric) {
    std::vector<int64_t> out;
    auto id = store_->index().find(device, metric);
    if (!id) return out;
    store_->scan(*id, 0, std::numeric_limits<int64_t>::max(),
                 [&](const tsdb::Sample& s) { out.push_back(s.ts); });
    return out;
  }

  // A batch that has interned device "d" and metric "m" as 0 and 0.
  static ReadingBatch dm() {
    ReadingBatch b;
    b.intern_device("d");
    b.intern_metric("m");
    return b;
  }

  static std::vector<int64_t> stamps(const ReadingBatch& b) {
    std::vector<int64_t> out;
    for (const Point& p : b.points()) out.push_back(p.ts_ms);
    return out;
  }

  FaultInjectingFileSystem fs_;
  std::unique_ptr<tsdb::TimeSeriesStore> store_;
  std::unique_ptr<ServerTimestamps> stamps_;
};

TEST_F(ServerTimestampsTest, ReadingsOfOneBatchReceivedInOneMillisecondGetConsecutiveStamps) {
  ReadingBatch b;
  const uint32_t d = b.intern_device("d"), m = b.intern_metric("m");
  for (int i = 0; i < 5; ++i) b.add_unstamped(d, m, kT, i);
  commit({&b});
  EXPECT_EQ(stamps(b), (std::vector<int64_t>{kT, kT + 1, kT + 2, kT + 3, kT + 4}));
  EXPECT_TRUE(b.unstamped().empty());
  EXPECT_EQ(stored("d", "m").size(), 5u);
}

TEST_F(ServerTimestampsTest, StampsIncreasePerSeriesAcrossBatchesGroupsAndAClockGoingBack) {
  ReadingBatch a = dm(), b = dm(), c = dm();
  a.add_unstamped(0, 0, kT, 1);
  b.add_unstamped(0, 0, kT, 2);  // same millisecond, another request of the same group
  commit({&a, &b});
  c.add_unstamped(0, 0, kT - 50, 3);  // the clock stepped back
  commit({&c});
  EXPECT_EQ(a.points()[0].ts_ms, kT);
  EXPECT_EQ(b.points()[0].ts_ms, kT + 1);
  EXPECT_EQ(c.points()[0].ts_ms, kT + 2);
}

TEST_F(ServerTimestampsTest, SeriesAreStampedIndependently) {
  ReadingBatch b;
  const uint32_t d1 = b.intern_device("d1"), d2 = b.intern_device("d2");
  const uint32_t m = b.intern_metric("m"), n = b.intern_metric("n");
  b.add_unstamped(d1, m, kT, 1);
  b.add_unstamped(d1, n, kT, 2);
  b.add_unstamped(d2, m, kT, 3);
  b.add_unstamped(d1, m, kT, 4);
  commit({&b});
  EXPECT_EQ(stamps(b), (std::vector<int64_t>{kT, kT, kT, kT + 1}));
}

TEST_F(ServerTimestampsTest, AfterARestartStoredPointsAreSkippedWithoutAnyRememberedState) {
  ReadingBatch first = dm();
  for (int i = 0; i < 3; ++i) first.add_unstamped(0, 0, kT, i);
  commit({&first});
  // A fresh stamper (as after a restart) and a clock that reads the same millisecond.
  stamps_ = std::make_unique<ServerTimestamps>(*store_);
  ReadingBatch again = dm();
  again.add_unstamped(0, 0, kT, 9);
  commit({&again});
  EXPECT_EQ(again.points()[0].ts_ms, kT + 3);
  EXPECT_EQ(stored("d", "m"), (std::vector<int64_t>{kT, kT + 1, kT + 2, kT + 3}));
}

TEST_F(ServerTimestampsTest, AnExplicitPointEarlierInTheGroupIsNotOverwritten) {
  ReadingBatch explicit_batch = dm(), server = dm();
  explicit_batch.add(0, 0, kT, 1);
  server.add_unstamped(0, 0, kT, 2);
  commit({&explicit_batch, &server});
  EXPECT_EQ(explicit_batch.points()[0].ts_ms, kT) << "explicit points are never moved";
  EXPECT_EQ(server.points()[0].ts_ms, kT + 1);
  EXPECT_EQ(stored("d", "m"), (std::vector<int64_t>{kT, kT + 1}));
}

TEST_F(ServerTimestampsTest, WithinOneBatchAnEarlierExplicitPointIsSkippedALaterOneOverwrites) {
  ReadingBatch b;
  const uint32_t d = b.intern_device("d"), m = b.intern_metric("m");
  b.add(d, m, kT, 1);            // explicit, first
  b.add_unstamped(d, m, kT, 2);  // gets kT + 1
  b.add(d, m, kT + 1, 3);        // explicit, later: overwrites by the rule
  commit({&b});
  EXPECT_EQ(stamps(b), (std::vector<int64_t>{kT, kT + 1, kT + 1}));
  EXPECT_EQ(stored("d", "m"), (std::vector<int64_t>{kT, kT + 1}));
}

TEST_F(ServerTimestampsTest, AFutureDeviceClockDoesNotPullServerStampsForward) {
  ReadingBatch future = dm();
  future.add(0, 0, kT + 3'600'000, 1);
  commit({&future});
  ReadingBatch now = dm();
  now.add_unstamped(0, 0, kT, 2);
  commit({&now});
  EXPECT_EQ(now.points()[0].ts_ms, kT);
}

TEST_F(ServerTimestampsTest, ADenseRunOfStoredPointsIsSkippedAsAWhole) {
  ReadingBatch dense;
  const uint32_t d = dense.intern_device("d"), m = dense.intern_metric("m");
  for (int64_t i = 0; i < 3000; ++i) dense.add(d, m, kT + i, 1);
  commit({&dense});
  ReadingBatch b = dm();
  b.add_unstamped(0, 0, kT + 10, 2);
  commit({&b});
  EXPECT_EQ(b.points()[0].ts_ms, kT + 3000);
}

TEST_F(ServerTimestampsTest, PointsInTheFrozenLayerAndInBlocksCountAsStored) {
  ReadingBatch b = dm();
  b.add(0, 0, kT, 1);
  commit({&b});
  ASSERT_TRUE(store_->flush_now().ok());  // now in a block, the head is empty
  stamps_ = std::make_unique<ServerTimestamps>(*store_);
  ReadingBatch c = dm();
  c.add_unstamped(0, 0, kT, 2);
  commit({&c});
  EXPECT_EQ(c.points()[0].ts_ms, kT + 1);
}

TEST_F(ServerTimestampsTest, BatchesWithTimestampsAreLeftAlone) {
  ReadingBatch b;
  const uint32_t d = b.intern_device("d"), m = b.intern_metric("m");
  b.add(d, m, kT, 1);
  b.add(d, m, kT, 2);
  commit({&b});
  EXPECT_EQ(stamps(b), (std::vector<int64_t>{kT, kT}));
  EXPECT_EQ(stored("d", "m"), (std::vector<int64_t>{kT}));
}

TEST_F(ServerTimestampsTest, ANewSeriesKeepsItsLastStampIntoTheNextGroup) {
  ReadingBatch a = dm(), b = dm();  // "d"/"m" is not in the store yet
  a.add_unstamped(0, 0, kT + 5, 1);
  commit({&a});
  b.add_unstamped(0, 0, kT, 2);  // earlier receive time than the last stamp
  commit({&b});
  EXPECT_EQ(b.points()[0].ts_ms, kT + 6);
}

}  // namespace
}  // namespace fp
