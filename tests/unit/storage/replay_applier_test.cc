// WAL replay in bulk (ReplayApplier, Head::append_run) as a spec: whatever the buffer size,
// replaying records gives the head, the series ids and the latest values that applying each
// batch point by point gives, with removals between batches; last-seen times are the newest
// receive time since a device's last removal; malformed records change nothing.
#include "storage/tsdb/replay_applier.h"

#include <gtest/gtest.h>

#include <bit>
#include <climits>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "model/reading_batch.h"
#include "storage/tsdb/batch_record.h"
#include "storage/tsdb/head.h"
#include "storage/tsdb/series_index.h"

namespace fp::tsdb {
namespace {

using namespace std::string_literals;

std::string encode(const ReadingBatch& b) {
  std::string out;
  encode_batch_record(b, out);
  return out;
}

// The reference: what TimeSeriesStore::apply does for one batch.
void apply_point_by_point(const ReadingBatch& b, SeriesIndex& index, Head& head) {
  for (const Point& p : b.points())
    head.append(index.get_or_create(b.devices()[p.device], b.metrics()[p.metric]), p.ts_ms,
                p.value);
}

void remove_device(SeriesIndex& index, Head& head, const std::string& device) {
  for (SeriesId id : index.remove_device(device)) head.drop(id);
}

void expect_same_heads(const SeriesIndex& want_index, const Head& want, const SeriesIndex& index,
                       const Head& got) {
  EXPECT_EQ(got.points(), want.points());
  ASSERT_EQ(index.devices(), want_index.devices());
  for (const std::string& d : want_index.devices()) {
    ASSERT_EQ(index.metrics_of(d), want_index.metrics_of(d)) << d;  // same names, same ids
    for (const auto& [metric, id] : want_index.metrics_of(d)) {
      SCOPED_TRACE(d + "/" + metric);
      const auto w = want.range(id, INT64_MIN, INT64_MAX);
      const auto g = got.range(id, INT64_MIN, INT64_MAX);
      ASSERT_EQ(g.size(), w.size());
      for (size_t i = 0; i < w.size(); ++i) {
        EXPECT_EQ(g[i].ts, w[i].ts);
        EXPECT_EQ(std::bit_cast<uint64_t>(g[i].value), std::bit_cast<uint64_t>(w[i].value));
      }
      const auto wl = want.latest(id), gl = got.latest(id);
      ASSERT_EQ(gl.has_value(), wl.has_value());
      if (wl) {
        EXPECT_EQ(gl->ts, wl->ts);
        EXPECT_EQ(gl->value, wl->value);
      }
    }
  }
}

TEST(ReplayApplierTest, BulkReplayGivesWhatPointByPointApplyGivesForEveryBufferSize) {
  for (const auto& [buffer, background] : std::vector<std::pair<size_t, bool>>{
           {1, false}, {7, false}, {7, true}, {64, true}, {1'000'000, true}}) {
    SCOPED_TRACE("buffer " + std::to_string(buffer) + (background ? " background" : ""));
    std::mt19937_64 rng(buffer);
    SeriesIndex want_index, index;
    Head want, got;
    ReplayApplier applier(index, got, buffer, background);
    std::map<std::string, int64_t> want_seen;
    for (int i = 0; i < 400; ++i) {
      const int64_t received = 1000 + static_cast<int64_t>(rng() % 500);
      const uint64_t what = rng() % 40;
      if (what == 0) {  // a device deletion between batches
        const std::string d = "d" + std::to_string(rng() % 12);
        applier.before_removal(d);
        remove_device(index, got, d);
        remove_device(want_index, want, d);
        want_seen.erase(d);
        continue;
      }
      if (what == 1) {  // a forget record: last-seen goes, the data stays
        const std::string d = "d" + std::to_string(rng() % 12);
        applier.before_removal(d, /*keep_ids=*/true);
        want_seen.erase(d);
        continue;
      }
      if (what == 2 && i % 5 == 0) {  // delete all
        applier.before_remove_all();
        for (const std::string& d : index.devices()) remove_device(index, got, d);
        for (const std::string& d : want_index.devices()) remove_device(want_index, want, d);
        want_seen.clear();
        continue;
      }
      // In-order runs, late points, repeats (overwrites), INT64 extremes.
      ReadingBatch b;
      const int n = 1 + static_cast<int>(rng() % 40);
      for (int k = 0; k < n; ++k) {
        const uint32_t d = b.intern_device("d" + std::to_string(rng() % 12));
        const uint32_t m = b.intern_metric("m" + std::to_string(rng() % 4));
        int64_t ts = i * 10 + static_cast<int64_t>(rng() % 30) - 15;
        if (rng() % 50 == 0) ts = rng() % 2 ? INT64_MIN : INT64_MAX;
        b.add(d, m, ts, static_cast<double>(rng() % 1000) / 8);
      }
      apply_point_by_point(b, want_index, want);
      for (const std::string& d : b.devices())
        want_seen[d] = std::max(want_seen.count(d) ? want_seen[d] : INT64_MIN, received);
      size_t points = 0;
      ASSERT_TRUE(applier.add_batch(encode(b), received, &points).ok());
      EXPECT_EQ(points, b.points().size());
    }
    applier.flush();
    expect_same_heads(want_index, want, index, got);
    std::map<std::string, int64_t> seen;
    applier.for_each_seen([&](std::string_view d, int64_t ms) { seen[std::string(d)] = ms; });
    EXPECT_EQ(seen, want_seen);
  }
}

TEST(ReplayApplierTest, MalformedOrDuplicateNamedRecordQueuesNothing) {
  SeriesIndex index;
  Head head;
  ReplayApplier applier(index, head, 1);
  ReadingBatch ok;
  ok.add(ok.intern_device("a"), ok.intern_metric("m"), 5, 1.0);
  const std::string valid = encode(ok);
  size_t points = 7;
  // One device "a" named twice, as decode_batch_record refuses it too.
  const std::string dup_device = "\x01\x02\x01"s + "a" + "\x01"s + "a" + valid.substr(4);
  EXPECT_EQ(applier.add_batch(dup_device, 1, &points).code(), StatusCode::kCorruption);
  EXPECT_EQ(points, 0u);
  const std::string dup_metric =
      "\x01\x01\x01"s + "a" + "\x02\x01"s + "m" + "\x01"s + "m" + valid.substr(7);
  EXPECT_EQ(applier.add_batch(dup_metric, 1, &points).code(), StatusCode::kCorruption);
  EXPECT_EQ(applier.add_batch(valid.substr(0, valid.size() - 1), 1, &points).code(),
            StatusCode::kCorruption);
  applier.flush();
  EXPECT_EQ(head.points(), 0u);
  EXPECT_EQ(index.size(), 0u);
  int seen = 0;
  applier.for_each_seen([&](std::string_view, int64_t) { ++seen; });
  EXPECT_EQ(seen, 0);
  // The applier goes on with the next good record.
  ASSERT_TRUE(applier.add_batch(valid, 1, &points).ok());
  applier.flush();
  EXPECT_EQ(head.points(), 1u);
}

TEST(ReplayApplierTest, AppendRunEqualsAppendingOneByOne) {
  std::mt19937_64 rng(9);
  for (int round = 0; round < 300; ++round) {
    Head want, got;
    std::vector<Sample> run;
    const int n = static_cast<int>(rng() % 600);
    int64_t ts = static_cast<int64_t>(rng() % 100);
    for (int k = 0; k < n; ++k) {
      const uint64_t r = rng() % 10;
      ts = r < 7 ? ts + 1 + static_cast<int64_t>(rng() % 3) : r < 9 ? ts - 5 : ts;
      run.push_back({rng() % 100 == 0 ? INT64_MIN : ts, static_cast<double>(k)});
    }
    if (rng() % 2)
      for (int k = 0; k < 20; ++k) want.append(0, k * 7, -1), got.append(0, k * 7, -1);
    size_t want_overwrites = 0;
    for (const Sample& s : run) want_overwrites += want.append(0, s.ts, s.value);
    EXPECT_EQ(got.append_run(0, run.data(), run.size()), want_overwrites);
    EXPECT_EQ(got.points(), want.points());
    const auto w = want.range(0, INT64_MIN, INT64_MAX), g = got.range(0, INT64_MIN, INT64_MAX);
    ASSERT_EQ(g.size(), w.size());
    for (size_t i = 0; i < w.size(); ++i) {
      EXPECT_EQ(g[i].ts, w[i].ts);
      EXPECT_EQ(g[i].value, w[i].value);
    }
    ASSERT_EQ(got.latest(0).has_value(), want.latest(0).has_value());
    if (want.latest(0)) {
      EXPECT_EQ(got.latest(0)->ts, want.latest(0)->ts);
      EXPECT_EQ(got.latest(0)->value, want.latest(0)->value);
    }
  }
}

}  // namespace
}  // namespace fp::tsdb
