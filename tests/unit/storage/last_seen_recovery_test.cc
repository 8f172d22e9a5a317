// Last-seen times across a crash between a checkpoint and the catalog write: the block thread
// makes CHECKPOINT durable before the commit thread saves last-seen times, and maintain()
// cuts the WAL only after that save. Records a checkpoint covers that are still on disk then
// give their devices' last-seen times at recovery (in order with removals), and nothing else:
// their points are in blocks already and are not applied twice.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/reading_batch.h"
#include "storage/fs/fault_injecting_file_system.h"
#include "storage/tsdb/time_series_store.h"
#include "util/clock.h"

namespace fp::tsdb {
namespace {

constexpr int64_t kT = 1'767'225'600'000;  // ManualClock's start

class LastSeenRecoveryTest : public ::testing::Test {
 protected:
  std::unique_ptr<TimeSeriesStore> open(std::map<std::string, int64_t>* seen,
                                        RecoveryReport* report = nullptr) {
    StoreOptions o;
    o.dir = "/data/tsdb";
    o.background = true;
    o.clock = &clock_;
    auto s = TimeSeriesStore::open(
        fs_, o, {}, report,
        [seen](const std::optional<std::string>& d) {
          if (seen && d) seen->erase(*d);
        },
        [seen](std::string_view d, int64_t ms) {
          if (seen) (*seen)[std::string(d)] = ms;
        });
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  void ingest(TimeSeriesStore& store, const std::string& device, int64_t ts, double v,
              int64_t received_ms) {
    ReadingBatch b;
    b.add(b.intern_device(device), b.intern_metric("m"), ts, v);
    ASSERT_TRUE(store.log(b, received_ms).ok());
    ASSERT_TRUE(store.commit().ok());
    store.apply(b);
  }
  // What the commit thread does on a flush, up to the checkpoint and no further: the block
  // thread has written blocks and CHECKPOINT; wal_cut_pending() / maintain() have not run.
  void checkpoint_without_cut(TimeSeriesStore& store) {
    std::promise<Status> done;
    store.request_flush([&done](Status s) { done.set_value(s); });
    store.maintain();
    auto f = done.get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    ASSERT_TRUE(f.get().ok());
  }
  void crash(std::unique_ptr<TimeSeriesStore>& store) {
    fs_.stop_after(0);
    store.reset();
    fs_.crash();
  }
  std::vector<std::pair<int64_t, double>> points(const TimeSeriesStore& store,
                                                 const std::string& device) {
    std::vector<std::pair<int64_t, double>> got;
    auto id = store.index().find(device, "m");
    if (!id) return got;
    store.scan(*id, 0, std::numeric_limits<int64_t>::max(),
               [&](const Sample& s) { got.emplace_back(s.ts, s.value); });
    return got;
  }

  ManualClock clock_;
  FaultInjectingFileSystem fs_;
};

TEST_F(LastSeenRecoveryTest, RecordsCoveredByACheckpointStillGiveLastSeenAfterACrash) {
  auto store = open(nullptr);
  ASSERT_NE(store, nullptr);
  ingest(*store, "d1", kT + 10, 1.0, 1000);
  ingest(*store, "d2", kT + 20, 2.0, 2000);
  ingest(*store, "gone", kT + 30, 3.0, 3000);
  ASSERT_TRUE(store->log_delete_device("gone").ok());
  ASSERT_TRUE(store->commit().ok());
  store->apply_delete_device("gone");
  ingest(*store, "d1", kT + 40, 4.0, 4000);
  checkpoint_without_cut(*store);
  ingest(*store, "d2", kT + 50, 5.0, 5000);  // after the checkpoint: replayed as before
  crash(store);

  std::map<std::string, int64_t> seen;
  RecoveryReport report;
  store = open(&seen, &report);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(seen, (std::map<std::string, int64_t>{{"d1", 4000}, {"d2", 5000}}));
  // The covered records' points come from the blocks, once; only d2's last one is replayed.
  EXPECT_EQ(points(*store, "d1"),
            (std::vector<std::pair<int64_t, double>>{{kT + 10, 1.0}, {kT + 40, 4.0}}));
  EXPECT_EQ(points(*store, "d2"),
            (std::vector<std::pair<int64_t, double>>{{kT + 20, 2.0}, {kT + 50, 5.0}}));
  EXPECT_TRUE(points(*store, "gone").empty());
  EXPECT_EQ(report.points, 1u);
}

TEST_F(LastSeenRecoveryTest, ARemovalAfterTheCheckpointForgetsACoveredDevice) {
  auto store = open(nullptr);
  ASSERT_NE(store, nullptr);
  ingest(*store, "d1", kT + 10, 1.0, 1000);
  ingest(*store, "d2", kT + 20, 2.0, 2000);
  checkpoint_without_cut(*store);
  ASSERT_TRUE(store->log_forget_device("d1").ok());
  ASSERT_TRUE(store->commit().ok());
  crash(store);

  std::map<std::string, int64_t> seen;
  store = open(&seen);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(seen, (std::map<std::string, int64_t>{{"d2", 2000}}));
}

TEST_F(LastSeenRecoveryTest, OnceTheWalIsCutTheCoveredRecordsAreGoneAndNothingIsReplayed) {
  auto store = open(nullptr);
  ASSERT_NE(store, nullptr);
  ingest(*store, "d1", kT + 10, 1.0, 1000);
  checkpoint_without_cut(*store);
  ASSERT_TRUE(store->wal_cut_pending());
  store->maintain();  // the catalog has the last-seen times now: the WAL is cut
  crash(store);

  std::map<std::string, int64_t> seen;
  RecoveryReport report;
  store = open(&seen, &report);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(seen.empty());
  EXPECT_EQ(points(*store, "d1"), (std::vector<std::pair<int64_t, double>>{{kT + 10, 1.0}}));
}

}  // namespace
}  // namespace fp::tsdb
