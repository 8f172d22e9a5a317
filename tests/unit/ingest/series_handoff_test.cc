// The series ids SeriesAdmission resolves while a request is decoded travel with the batch
// (ReadingBatch::resolved_series) to the Ingestor, which appends with them instead of looking
// the pairs up again. As a spec: the table answers like a map; admission stores the id of each
// admitted pair (kUnresolved for a new series) and nothing for a refused item; and through the
// real Ingestor and store, points land on the right series even when the device was deleted
// between the lookup and the commit, and after a crash.
#include <gtest/gtest.h>

#include <condition_variable>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "ingest/cardinality_limits.h"
#include "ingest/ingestor.h"
#include "storage/catalog/catalog.h"
#include "storage/fs/fault_injecting_file_system.h"
#include "storage/tsdb/time_series_store.h"
#include "util/clock.h"

namespace fp {
namespace {

constexpr int64_t kNow = 1'767'225'600'000;

TEST(SeriesPairsTest, AnswersLikeAMapThroughGrowth) {
  SeriesPairs t;
  std::map<uint64_t, uint32_t> model;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20'000; ++i) {
    const uint64_t k =
        SeriesPairs::key(static_cast<uint32_t>(rng() % 3000), static_cast<uint32_t>(rng() % 50));
    const auto v = static_cast<uint32_t>(rng());
    t.put(k, v);
    model[k] = v;
  }
  EXPECT_EQ(t.size(), model.size());
  for (const auto& [k, v] : model) {
    const uint32_t* got = t.find(k);
    ASSERT_NE(got, nullptr);
    EXPECT_EQ(*got, v);
  }
  EXPECT_EQ(t.find(SeriesPairs::key(5000, 1)), nullptr);
  t.clear();
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.find(model.begin()->first), nullptr);
}

TEST(SeriesHandoffTest, AdmissionStoresEachAdmittedPairsIdAndNothingForARefusedItem) {
  tsdb::SeriesIndex index;
  const tsdb::SeriesId a_t = index.get_or_create("a", "t");
  index.get_or_create("x", "y");
  index.remove_device("x");  // removals() moves: the table records the value before lookups
  CardinalityLimits limits({2, 0, 0, 0});
  limits.set_index(&index);
  SeriesAdmission adm(limits, kNow);
  ReadingBatch b;
  const std::vector<std::string_view> item = {"t", "h"};
  ASSERT_EQ(adm.admit(b, "a", item), "");
  const SeriesPairs& r = b.resolved_series();
  EXPECT_EQ(r.generation, index.removals());
  const uint32_t a = *b.find_device("a"), t = *b.find_metric("t"), h = *b.find_metric("h");
  ASSERT_NE(r.find(SeriesPairs::key(a, t)), nullptr);
  EXPECT_EQ(*r.find(SeriesPairs::key(a, t)), a_t);
  ASSERT_NE(r.find(SeriesPairs::key(a, h)), nullptr);
  EXPECT_EQ(*r.find(SeriesPairs::key(a, h)), SeriesPairs::kUnresolved) << "new: made at commit";
  // A third series of "a" is over its limit of 2: refused, nothing stored for it.
  const std::vector<std::string_view> over = {"z"};
  EXPECT_NE(adm.admit(b, "a", over), "");
  EXPECT_FALSE(b.find_metric("z"));
  EXPECT_EQ(r.size(), 2u);
  // Admitted again (fast path): still the same two pairs.
  ASSERT_EQ(adm.admit(b, "a", item), "");
  EXPECT_EQ(r.size(), 2u);
}

class SeriesHandoffIngestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The catalog only takes registrations here: in memory (the store is what crashes).
    auto c = Catalog::open(":memory:", clock_);
    ASSERT_TRUE(c.ok()) << c.status().message();
    catalog_ = std::move(c).value();
  }

  std::unique_ptr<tsdb::TimeSeriesStore> open_store() {
    tsdb::StoreOptions o;
    o.dir = "/data/tsdb";
    o.clock = &clock_;
    auto s = tsdb::TimeSeriesStore::open(fs_, o, {}, nullptr, nullptr, nullptr);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  // A batch built the way decoders build it: each item admitted, then its points added.
  std::shared_ptr<ReadingBatch> admitted_batch(
      SeriesAdmission& adm, const std::vector<std::tuple<std::string, std::string, double>>& pts,
      int64_t ts) {
    auto b = std::make_shared<ReadingBatch>();
    for (const auto& [d, m, v] : pts) {
      const std::vector<std::string_view> metrics = {m};
      EXPECT_EQ(adm.admit(*b, d, metrics), "");
      b->add(*b->find_device(d), *b->find_metric(m), ts, v);
    }
    return b;
  }
  static bool submit_and_wait(Ingestor& ingestor, std::shared_ptr<ReadingBatch> b) {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false, ok = false;
    ingestor.submit_telemetry(std::move(b), kNow, [&](TelemetryAck ack) {
      std::lock_guard lock(mu);
      done = true;
      ok = ack.status.ok();
      cv.notify_all();
    });
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done; });
    return ok;
  }
  static bool remove_and_wait(Ingestor& ingestor, const std::string& device) {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false, ok = false;
    ingestor.submit_removal(device, true, [&](Status s) {
      std::lock_guard lock(mu);
      done = true;
      ok = s.ok();
      cv.notify_all();
    });
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done; });
    return ok;
  }
  static std::vector<std::pair<int64_t, double>> read(const tsdb::TimeSeriesStore& store,
                                                      const std::string& d, const std::string& m) {
    std::vector<std::pair<int64_t, double>> got;
    auto id = store.index().find(d, m);
    if (!id) return got;
    store.scan(*id, 0, std::numeric_limits<int64_t>::max(),
               [&](const tsdb::Sample& s) { got.emplace_back(s.ts, s.value); });
    return got;
  }

  ManualClock clock_;
  FaultInjectingFileSystem fs_;
  std::unique_ptr<Catalog> catalog_;
};

TEST_F(SeriesHandoffIngestTest, IdsResolvedBeforeADeletionLandOnTheNewSeriesAndSurviveACrash) {
  auto store = open_store();
  ASSERT_TRUE(store);
  using Points = std::vector<std::pair<int64_t, double>>;
  {
    DeviceStatusTracker tracker(StatusPolicy{}, clock_);
    Ingestor ingestor(*catalog_, tracker, store.get(), clock_, IngestorOptions{});
    ingestor.start();
    SeriesAdmission first(ingestor.limits(), kNow);
    ASSERT_TRUE(
        submit_and_wait(ingestor, admitted_batch(first, {{"a", "t", 1}, {"b", "t", 2}}, 1000)));
    const tsdb::SeriesId old_a = *store->index().find("a", "t");
    // Resolved while "a" still exists; "a" is deleted before the batch is submitted.
    SeriesAdmission second(ingestor.limits(), kNow);
    auto next = admitted_batch(second, {{"a", "t", 3}, {"b", "t", 4}, {"c", "n", 5}}, 2000);
    ASSERT_EQ(*next->resolved_series().find(SeriesPairs::key(0, 0)), old_a);
    ASSERT_TRUE(remove_and_wait(ingestor, "a"));
    ASSERT_TRUE(submit_and_wait(ingestor, next));
    // Resolved after: the common path, ids straight from the admission.
    SeriesAdmission third(ingestor.limits(), kNow);
    ASSERT_TRUE(
        submit_and_wait(ingestor, admitted_batch(third, {{"b", "t", 6}, {"c", "n", 7}}, 3000)));
    ingestor.stop();
    EXPECT_NE(*store->index().find("a", "t"), old_a) << "a new series after the deletion";
    EXPECT_EQ(read(*store, "a", "t"), (Points{{2000, 3}}));
    EXPECT_EQ(read(*store, "b", "t"), (Points{{1000, 2}, {2000, 4}, {3000, 6}}));
    EXPECT_EQ(read(*store, "c", "n"), (Points{{2000, 5}, {3000, 7}}));
  }
  fs_.stop_after(0);  // kill -9: only what was synced survives
  store.reset();
  fs_.crash();
  store = open_store();
  ASSERT_TRUE(store);
  EXPECT_EQ(read(*store, "a", "t"), (Points{{2000, 3}}));
  EXPECT_EQ(read(*store, "b", "t"), (Points{{1000, 2}, {2000, 4}, {3000, 6}}));
  EXPECT_EQ(read(*store, "c", "n"), (Points{{2000, 5}, {3000, 7}}));
}

}  // namespace
}  // namespace fp
