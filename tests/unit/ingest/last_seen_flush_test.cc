// Last-seen times learned from telemetry reach the catalog every 5 s for a small fleet, and no
// more often than 2 devices per millisecond for a large one (each is a catalog row update; the
// WAL rebuilds them after a crash). Each clock step below is followed by a heartbeat of "d0":
// its answer comes after the catalog transaction of its commit, which carries the last-seen
// times when they are due (and a commit before it may already have written them).
#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ingest/ingestor.h"
#include "storage/catalog/catalog.h"
#include "storage/fs/fault_injecting_file_system.h"
#include "storage/tsdb/time_series_store.h"
#include "unit/temp_dir.h"
#include "util/clock.h"

namespace fp {
namespace {

class LastSeenFlushTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("fp_last_seen_");
    auto c = Catalog::open((dir_ / "catalog.db").string(), clock_);
    ASSERT_TRUE(c.ok()) << c.status().message();
    catalog_ = std::move(c).value();
    tsdb::StoreOptions o;
    o.dir = "/data/tsdb";
    o.clock = &clock_;
    auto s = tsdb::TimeSeriesStore::open(fs_, o, {}, nullptr, nullptr, nullptr);
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(s).value();
    tracker_ = std::make_unique<DeviceStatusTracker>(StatusPolicy{}, clock_);
    ingestor_ =
        std::make_unique<Ingestor>(*catalog_, *tracker_, store_.get(), clock_, IngestorOptions{});
    ingestor_->start();
  }
  void TearDown() override {
    ingestor_->stop();
    catalog_.reset();
    std::filesystem::remove_all(dir_);
  }

  // One point for each of `devices` devices "d<i>", received now; waits for its answer.
  void report(int devices) {
    auto b = std::make_shared<ReadingBatch>();
    const uint32_t metric = b->intern_metric("t");
    for (int i = 0; i < devices; ++i)
      b->add(b->intern_device("d" + std::to_string(i)), metric, clock_.now_ms(), i);
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    ingestor_->submit_telemetry(std::move(b), clock_.now_ms(), [&](TelemetryAck ack) {
      EXPECT_TRUE(ack.status.ok()) << ack.status.message();
      std::lock_guard lock(mu);
      done = true;
      cv.notify_all();
    });
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done; });
  }
  // A heartbeat of "d0" now; waits for its answer.
  void heartbeat() {
    HeartbeatReport r;
    r.device_id = "d0";
    r.received_ms = clock_.now_ms();
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    ingestor_->submit_heartbeat(std::move(r), [&](HeartbeatAck ack) {
      EXPECT_TRUE(ack.status.ok()) << ack.status.message();
      std::lock_guard lock(mu);
      done = true;
      cv.notify_all();
    });
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done; });
  }
  bool catalog_has_last_seen(const std::string& device) {
    auto d = catalog_->get_device(device);
    return d.ok() && d->last_seen_ms.has_value();
  }

  std::filesystem::path dir_;
  ManualClock clock_;
  FaultInjectingFileSystem fs_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<tsdb::TimeSeriesStore> store_;
  std::unique_ptr<DeviceStatusTracker> tracker_;
  std::unique_ptr<Ingestor> ingestor_;
};

TEST_F(LastSeenFlushTest, ASmallFleetsLastSeenReachesTheCatalogAfterFiveSeconds) {
  report(2);
  clock_.advance(4'000);
  heartbeat();
  EXPECT_FALSE(catalog_has_last_seen("d1")) << "written before 5 s";
  clock_.advance(1'500);
  heartbeat();
  EXPECT_TRUE(catalog_has_last_seen("d1"));
}

TEST_F(LastSeenFlushTest, ALargeFleetsLastSeenIsWrittenAtMostTwoDevicesPerMillisecond) {
  report(30'000);  // 30,000 devices waiting: written once 15 s have passed
  clock_.advance(10'000);
  heartbeat();
  EXPECT_FALSE(catalog_has_last_seen("d29999")) << "written after 10 s";
  clock_.advance(6'000);
  heartbeat();
  EXPECT_TRUE(catalog_has_last_seen("d29999"));
  EXPECT_TRUE(catalog_has_last_seen("d1"));
}

}  // namespace
}  // namespace fp
