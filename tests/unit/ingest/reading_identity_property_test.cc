// A property of the whole commit path (Ingestor + TimeSeriesStore on a fault-injecting file
// system): any sequence of ingests with and without device timestamps, in commit groups of any
// size, with crashes between and during them, ends with exactly the readings that were
// acknowledged — every reading without a timestamp as a point of its own, readings with equal
// explicit timestamps collapsed to the newest. Flushes to blocks (with their checkpoints and
// WAL cuts) happen at random points too, and after every crash each device's last-seen time
// (the catalog's, or the one recovery rebuilds from the WAL) is at least the receive time of
// its newest acknowledged batch.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ingest/ingestor.h"
#include "storage/catalog/catalog.h"
#include "storage/fs/fault_injecting_file_system.h"
#include "storage/tsdb/time_series_store.h"
#include "util/clock.h"

namespace fp {
namespace {

using Model = std::map<std::pair<std::string, std::string>, std::map<int64_t, double>>;

struct Submitted {
  std::shared_ptr<ReadingBatch> batch;
  std::vector<char> server_stamped;  // per point
  int64_t received_ms = 0;
  bool done = false;
  bool ok = false;
};

class ReadingIdentityPropertyTest : public ::testing::TestWithParam<uint64_t> {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("fp_identity_" + std::to_string(::getpid()) + "_" + std::to_string(GetParam()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto c = Catalog::open((dir_ / "catalog.db").string(), clock_);
    ASSERT_TRUE(c.ok()) << c.status().message();
    catalog_ = std::move(c).value();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<tsdb::TimeSeriesStore> open_store() {
    tsdb::StoreOptions o;
    o.dir = "/data/tsdb";
    o.background = true;  // a block thread: flushes write blocks and checkpoints
    o.clock = &clock_;
    replay_seen_.clear();
    auto s = tsdb::TimeSeriesStore::open(
        fs_, o, {}, nullptr,
        [this](const std::optional<std::string>& d) {
          if (d)
            replay_seen_.erase(*d);
          else
            replay_seen_.clear();
        },
        [this](std::string_view d, int64_t ms) { replay_seen_[std::string(d)] = ms; });
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  void expect_content(const tsdb::TimeSeriesStore& store, const Model& model) {
    size_t n = 0;
    for (const auto& [key, points] : model) {
      SCOPED_TRACE(key.first + "/" + key.second);
      auto id = store.index().find(key.first, key.second);
      ASSERT_TRUE(id.has_value());
      std::vector<std::pair<int64_t, double>> got;
      store.scan(*id, 0, std::numeric_limits<int64_t>::max(),
                 [&](const tsdb::Sample& s) { got.emplace_back(s.ts, s.value); });
      const std::vector<std::pair<int64_t, double>> want(points.begin(), points.end());
      EXPECT_EQ(got, want);
      n += points.size();
    }
    EXPECT_EQ(store.series(), model.size());
    ++checks_;
    (void)n;
  }

  // Every device's last-seen time after a restart: the catalog's or the WAL's, the newer.
  void expect_last_seen(const std::map<std::string, int64_t>& newest_acknowledged) {
    for (const auto& [device, received] : newest_acknowledged) {
      SCOPED_TRACE(device);
      int64_t seen = 0;
      if (auto d = catalog_->get_device(device); d.ok() && d->last_seen_ms) seen = *d->last_seen_ms;
      if (auto it = replay_seen_.find(device); it != replay_seen_.end())
        seen = std::max(seen, it->second);
      EXPECT_GE(seen, received);
    }
  }

  std::map<std::string, int64_t> replay_seen_;
  std::filesystem::path dir_;
  ManualClock clock_;
  FaultInjectingFileSystem fs_;
  std::unique_ptr<Catalog> catalog_;
  int checks_ = 0;
};

TEST_P(ReadingIdentityPropertyTest, ExactlyTheAcknowledgedReadingsSurviveCrashes) {
  std::mt19937_64 rng(GetParam());
  Model model;
  std::map<std::pair<std::string, std::string>, int64_t> last_stamp;  // per series, this run
  std::map<std::string, int64_t> newest_acknowledged;                 // per device
  double next_value = 0;
  uint64_t acknowledged = 0, refused = 0, server_stamped = 0;

  for (int round = 0; round < 12; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    expect_content(*store, model);  // what the previous round acknowledged, after its crash
    expect_last_seen(newest_acknowledged);
    if (HasFatalFailure()) return;
    DeviceStatusTracker tracker(StatusPolicy{}, clock_);
    Ingestor ingestor(*catalog_, tracker, store.get(), clock_, IngestorOptions{});
    ingestor.start();
    // Some rounds lose power part-way: everything after that fails and is not acknowledged.
    const bool power_cut = rng() % 3 == 0;
    if (power_cut) fs_.stop_after(1 + rng() % 40);

    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::unique_ptr<Submitted>> subs;
    size_t pending = 0;
    auto wait_all = [&] {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return pending == 0; });
    };
    const int n_batches = 5 + static_cast<int>(rng() % 40);
    for (int k = 0; k < n_batches; ++k) {
      auto sub = std::make_unique<Submitted>();
      sub->batch = std::make_shared<ReadingBatch>();
      sub->received_ms = clock_.now_ms();
      const int n_points = 1 + static_cast<int>(rng() % 6);
      for (int i = 0; i < n_points; ++i) {
        const uint32_t d = sub->batch->intern_device("d" + std::to_string(rng() % 3));
        const uint32_t m = sub->batch->intern_metric("m" + std::to_string(rng() % 2));
        const double v = ++next_value;
        if (rng() % 2) {
          sub->batch->add_unstamped(d, m, sub->received_ms, v);
          sub->server_stamped.push_back(1);
        } else {
          // Explicit times near the clock, so they meet server stamps and each other.
          const int64_t ts = sub->received_ms + static_cast<int64_t>(rng() % 12) - 4;
          sub->batch->add(d, m, ts, v);
          sub->server_stamped.push_back(0);
        }
      }
      Submitted* s = sub.get();
      {
        std::lock_guard lock(mu);
        ++pending;
      }
      subs.push_back(std::move(sub));
      ingestor.submit_telemetry(s->batch, s->received_ms, [&, s](TelemetryAck ack) {
        std::lock_guard lock(mu);
        s->done = true;
        s->ok = ack.status.ok();
        --pending;
        cv.notify_all();
      });
      // The clock often stands still (same millisecond), and groups vary in size.
      if (rng() % 3 == 0) clock_.advance(static_cast<int64_t>(rng() % 3));
      if (rng() % 4 == 0) wait_all();
      if (!power_cut && rng() % 6 == 0) {
        // Seal into blocks: checkpoint, then the WAL is cut behind it (not in rounds that
        // lose power: a failed flush is retried and would hold the wait below).
        {
          std::lock_guard lock(mu);
          ++pending;
        }
        ingestor.submit_flush([&](Status) {
          std::lock_guard lock(mu);
          --pending;
          cv.notify_all();
        });
        if (rng() % 2) wait_all();
      }
    }
    wait_all();
    ingestor.stop();

    // The model: acknowledged batches in commit (= submission) order.
    for (const auto& sub : subs) {
      ASSERT_TRUE(sub->done);
      if (!sub->ok) {
        ++refused;
        continue;
      }
      ++acknowledged;
      const ReadingBatch& b = *sub->batch;
      for (const std::string& d : b.devices()) {
        int64_t& newest = newest_acknowledged[d];
        newest = std::max(newest, sub->received_ms);
      }
      ASSERT_TRUE(b.unstamped().empty());
      for (size_t i = 0; i < b.points().size(); ++i) {
        const Point& p = b.points()[i];
        const auto key = std::make_pair(b.devices()[p.device], b.metrics()[p.metric]);
        auto& series = model[key];
        if (sub->server_stamped[i]) {
          ++server_stamped;
          EXPECT_GE(p.ts_ms, sub->received_ms);
          EXPECT_EQ(series.count(p.ts_ms), 0u)
              << "a server-stamped reading replaced a point at " << p.ts_ms;
          auto [it, first] = last_stamp.try_emplace(key, p.ts_ms);
          if (!first) {
            EXPECT_GT(p.ts_ms, it->second) << "server stamps must increase per series";
            it->second = p.ts_ms;
          }
        }
        series[p.ts_ms] = p.value;  // equal explicit timestamps: the newest wins
      }
    }
    if (!power_cut || rng() % 2) clock_.advance(static_cast<int64_t>(rng() % 2));
    // kill -9 / power loss: only what was synced survives.
    fs_.stop_after(0);
    store.reset();
    fs_.crash();
    // A restart loses the stamper's memory; stamps stay distinct by probing stored points.
    last_stamp.clear();
  }
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  expect_content(*store, model);
  expect_last_seen(newest_acknowledged);
  EXPECT_GT(acknowledged, 50u);
  EXPECT_GT(server_stamped, 50u);
  EXPECT_GT(checks_, 12);
  RecordProperty("refused", static_cast<int>(refused));
}

INSTANTIATE_TEST_SUITE_P(Seeds, ReadingIdentityPropertyTest, ::testing::Values(1, 2, 3, 4, 5, 6));

}  // namespace
}  // namespace fp
