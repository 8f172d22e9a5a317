// The in-memory time-series store as a spec: how series get their ids, how the head orders,
// overwrites and forgets points, how a batch is written to and read back from the WAL, what a
// restart after a crash brings back, and how bucketed aggregates are computed. Crashes, torn
// writes and full disks come from FaultInjectingFileSystem.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "model/reading_batch.h"
#include "query/aggregate.h"
#include "storage/fs/fault_injecting_file_system.h"
#include "storage/tsdb/batch_record.h"
#include "storage/tsdb/head.h"
#include "storage/tsdb/series_index.h"
#include "storage/tsdb/time_series_store.h"

namespace fp::tsdb {
namespace {

using namespace std::string_literals;

constexpr int64_t kMinTs = std::numeric_limits<int64_t>::min();
constexpr int64_t kMaxTs = std::numeric_limits<int64_t>::max();

uint64_t bits(double v) {
  return std::bit_cast<uint64_t>(v);
}
double from_bits(uint64_t b) {
  return std::bit_cast<double>(b);
}

// Field-by-field equality; values compare by bit pattern so NaN payloads count.
void expect_same_batch(const ReadingBatch& want, const ReadingBatch& got) {
  EXPECT_EQ(got.devices(), want.devices());
  EXPECT_EQ(got.metrics(), want.metrics());
  ASSERT_EQ(got.points().size(), want.points().size());
  for (size_t i = 0; i < want.points().size(); ++i) {
    const Point& w = want.points()[i];
    const Point& g = got.points()[i];
    EXPECT_EQ(g.device, w.device) << "point " << i;
    EXPECT_EQ(g.metric, w.metric) << "point " << i;
    EXPECT_EQ(g.ts_ms, w.ts_ms) << "point " << i;
    EXPECT_EQ(bits(g.value), bits(w.value)) << "point " << i;
  }
  ASSERT_EQ(got.attributes().size(), want.attributes().size());
  for (size_t i = 0; i < want.attributes().size(); ++i) {
    const Attribute& w = want.attributes()[i];
    const Attribute& g = got.attributes()[i];
    EXPECT_EQ(g.device, w.device) << "attribute " << i;
    EXPECT_EQ(g.key, w.key) << "attribute " << i;
    EXPECT_EQ(g.value, w.value) << "attribute " << i;
    EXPECT_EQ(g.ts_ms, w.ts_ms) << "attribute " << i;
  }
}

struct Reading {
  std::string device;
  std::string metric;
  int64_t ts;
  double value;
};

ReadingBatch make_batch(const std::vector<Reading>& readings) {
  ReadingBatch b;
  for (const Reading& r : readings) {
    b.add(b.intern_device(r.device), b.intern_metric(r.metric), r.ts, r.value);
  }
  return b;
}

// ---------------------------------------------------------------------------------------------
// SeriesIndex

TEST(SeriesIndexTest, SeriesIndexGivesStableDenseIdsPerDeviceAndMetric) {
  SeriesIndex index;
  bool created = false;
  EXPECT_EQ(index.get_or_create("a", "bc", &created), 0u);
  EXPECT_TRUE(created);
  // The same bytes split differently are another series.
  EXPECT_EQ(index.get_or_create("ab", "c", &created), 1u);
  EXPECT_TRUE(created);
  EXPECT_EQ(index.get_or_create("a", "x", &created), 2u);
  EXPECT_TRUE(created);
  EXPECT_EQ(index.get_or_create("a", "bc", &created), 0u);
  EXPECT_FALSE(created);
  EXPECT_EQ(index.get_or_create("ab", "c"), 1u);
  EXPECT_EQ(index.size(), 3u);

  EXPECT_EQ(index.find("a", "bc"), std::optional<SeriesId>(0));
  EXPECT_EQ(index.find("a", "x"), std::optional<SeriesId>(2));
  EXPECT_EQ(index.find("a", "c"), std::nullopt);
  EXPECT_EQ(index.find("zz", "bc"), std::nullopt);
  EXPECT_EQ(index.key(1).device, "ab");
  EXPECT_EQ(index.key(1).metric, "c");
  EXPECT_EQ(index.key(99).device, "");
  EXPECT_EQ(index.devices(), (std::vector<std::string>{"a", "ab"}));

  // Removing a device forgets its series; their ids are never handed out again.
  std::vector<SeriesId> removed = index.remove_device("a");
  std::sort(removed.begin(), removed.end());
  EXPECT_EQ(removed, (std::vector<SeriesId>{0, 2}));
  EXPECT_TRUE(index.remove_device("a").empty());
  EXPECT_TRUE(index.remove_device("never-seen").empty());
  EXPECT_EQ(index.find("a", "bc"), std::nullopt);
  EXPECT_TRUE(index.metrics_of("a").empty());
  EXPECT_EQ(index.devices(), std::vector<std::string>{"ab"});
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(index.get_or_create("a", "bc", &created), 3u);
  EXPECT_TRUE(created);
  EXPECT_EQ(index.find("ab", "c"), std::optional<SeriesId>(1)) << "other devices keep their ids";
  EXPECT_EQ(index.size(), 2u);
}

TEST(SeriesIndexTest, ConcurrentCreatorsAgreeOnOneIdPerSeries) {
  SeriesIndex index;
  constexpr int kThreads = 4;
  constexpr int kSeries = 300;
  std::vector<std::vector<SeriesId>> seen(kThreads, std::vector<SeriesId>(kSeries));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<int> order(kSeries);
      for (int i = 0; i < kSeries; ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), std::mt19937_64(t));  // each thread its own order
      for (int s : order) {
        seen[t][s] = index.get_or_create("d" + std::to_string(s % 17), "m" + std::to_string(s));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(index.size(), static_cast<size_t>(kSeries));
  for (int t = 1; t < kThreads; ++t) EXPECT_EQ(seen[t], seen[0]);
  std::vector<SeriesId> ids = seen[0];
  std::sort(ids.begin(), ids.end());
  for (int i = 0; i < kSeries; ++i) ASSERT_EQ(ids[i], static_cast<SeriesId>(i)) << "dense";
}

TEST(SeriesIndexTest, MetricsOfADeviceAreSorted) {
  SeriesIndex index;
  std::map<std::string, SeriesId> want;
  const std::vector<std::string> names = {"temp", "Temp", "battery", "z",  "a.b", "a",
                                          "\xff", "",     "rssi",    "10", "9"};
  for (const std::string& n : names) want[n] = index.get_or_create("dev", n);
  index.get_or_create("other", "aaa");
  std::vector<std::pair<std::string, SeriesId>> got = index.metrics_of("dev");
  EXPECT_EQ(got, (std::vector<std::pair<std::string, SeriesId>>(want.begin(), want.end())));
  EXPECT_TRUE(std::is_sorted(got.begin(), got.end()));
  EXPECT_EQ(index.metrics_of("other").size(), 1u);
  EXPECT_TRUE(index.metrics_of("nobody").empty());
}

// ---------------------------------------------------------------------------------------------
// Head

std::vector<int64_t> timestamps(const std::vector<Sample>& samples) {
  std::vector<int64_t> out;
  for (const Sample& s : samples) out.push_back(s.ts);
  return out;
}

TEST(HeadTest, HeadKeepsPointsInTimeOrderWhateverTheArrivalOrder) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    Head head;
    std::map<SeriesId, std::map<int64_t, double>> model;
    // Odd seeds stay small; even ones pass the out-of-order buffer's merge threshold.
    const int n = 1 + static_cast<int>(rng() % (seed % 2 ? 2000 : 20000));
    // Mostly in order with late points and repeats, as devices retry and clocks skew.
    int64_t now = -5000;
    for (int i = 0; i < n; ++i) {
      const SeriesId id = static_cast<SeriesId>(rng() % 5) * 3;  // ids with gaps
      int64_t ts;
      switch (rng() % 6) {
        case 0:
          ts = now - static_cast<int64_t>(rng() % 3000);  // late
          break;
        case 1:
          ts = model[id].empty() ? now : model[id].begin()->first;  // repeat of the oldest
          break;
        case 2:
          ts = rng() % 50 == 0 ? kMinTs : (rng() % 50 == 0 ? kMaxTs : now);
          break;
        default:
          now += static_cast<int64_t>(rng() % 20);
          ts = now;
      }
      const double v = static_cast<double>(static_cast<int64_t>(rng() % 1000) - 500) / 4;
      const bool existed = model[id].count(ts) != 0;
      EXPECT_EQ(head.append(id, ts, v), existed);
      model[id][ts] = v;
    }
    uint64_t total = 0;
    for (const auto& [id, pts] : model) {
      std::vector<Sample> got = head.range(id, kMinTs, kMaxTs);
      ASSERT_EQ(got.size(), pts.size()) << "series " << id;
      size_t i = 0;
      for (const auto& [ts, v] : pts) {
        EXPECT_EQ(got[i].ts, ts);
        EXPECT_EQ(got[i].value, v);
        ++i;
      }
      total += pts.size();
      // A sub-range sees exactly the model's points inside it.
      const int64_t a = -5000 + static_cast<int64_t>(rng() % 20000);
      const int64_t b = a + static_cast<int64_t>(rng() % 5000);
      std::vector<Sample> part = head.range(id, a, b);
      auto lo = pts.lower_bound(a);
      auto hi = pts.upper_bound(b);
      ASSERT_EQ(part.size(), static_cast<size_t>(std::distance(lo, hi)));
      EXPECT_EQ(head.has_points(id, a, b), lo != hi);
      for (const Sample& p : part) EXPECT_EQ(p.value, pts.at(p.ts));
    }
    EXPECT_EQ(head.points(), total);
    EXPECT_EQ(head.bytes(), total * sizeof(Sample));
  }
}

TEST(HeadTest, SameTimestampOverwritesAndCountsOnce) {
  Head head;
  EXPECT_FALSE(head.append(7, 100, 1.0));
  EXPECT_FALSE(head.append(7, 200, 2.0));
  EXPECT_FALSE(head.append(7, 300, 3.0));
  EXPECT_EQ(head.points(), 3u);

  EXPECT_TRUE(head.append(7, 300, 30.0));  // the newest point
  EXPECT_TRUE(head.append(7, 100, 10.0));  // the oldest
  EXPECT_TRUE(head.append(7, 200, 20.0));  // one in the middle
  EXPECT_TRUE(head.append(7, 200, 21.0));
  EXPECT_EQ(head.points(), 3u);
  std::vector<Sample> got = head.range(7, kMinTs, kMaxTs);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(timestamps(got), (std::vector<int64_t>{100, 200, 300}));
  EXPECT_EQ(got[0].value, 10.0);
  EXPECT_EQ(got[1].value, 21.0);
  EXPECT_EQ(got[2].value, 30.0);

  // The same timestamp in another series is another point.
  EXPECT_FALSE(head.append(8, 200, 5.0));
  EXPECT_EQ(head.points(), 4u);
}

TEST(HeadTest, LatestIsTheGreatestTimestampNotTheLastWritten) {
  Head head;
  EXPECT_EQ(head.latest(0), std::nullopt);
  head.append(0, 10, 1.0);
  head.append(0, 30, 3.0);
  head.append(0, 20, 2.0);  // late
  ASSERT_TRUE(head.latest(0).has_value());
  EXPECT_EQ(head.latest(0)->ts, 30);
  EXPECT_EQ(head.latest(0)->value, 3.0);

  head.append(0, 30, 33.0);  // overwriting the latest updates it
  EXPECT_EQ(head.latest(0)->ts, 30);
  EXPECT_EQ(head.latest(0)->value, 33.0);
  head.append(0, 20, 22.0);  // overwriting an older point does not
  EXPECT_EQ(head.latest(0)->value, 33.0);
  head.append(0, -5, -1.0);
  EXPECT_EQ(head.latest(0)->ts, 30);
  head.append(0, 31, 4.0);
  EXPECT_EQ(head.latest(0)->ts, 31);
  EXPECT_EQ(head.latest(0)->value, 4.0);

  EXPECT_EQ(head.latest(1), std::nullopt) << "a series never written";
  EXPECT_EQ(head.latest(1000), std::nullopt) << "beyond every series";
}

TEST(HeadTest, ScanRespectsInclusiveBounds) {
  Head head;
  for (int64_t ts : {kMinTs, int64_t{-10}, int64_t{10}, int64_t{20}, int64_t{30}, kMaxTs}) {
    head.append(3, ts, static_cast<double>(ts % 1000));
  }
  auto ts_in = [&](int64_t start, int64_t end) { return timestamps(head.range(3, start, end)); };
  EXPECT_EQ(ts_in(10, 30), (std::vector<int64_t>{10, 20, 30}));
  EXPECT_EQ(ts_in(11, 29), (std::vector<int64_t>{20}));
  EXPECT_EQ(ts_in(20, 20), (std::vector<int64_t>{20}));
  EXPECT_EQ(ts_in(21, 29), std::vector<int64_t>{});
  EXPECT_EQ(ts_in(30, 10), std::vector<int64_t>{}) << "an inverted range is empty";
  EXPECT_EQ(ts_in(-10, -10), (std::vector<int64_t>{-10}));
  EXPECT_EQ(ts_in(kMinTs, kMinTs), (std::vector<int64_t>{kMinTs}));
  EXPECT_EQ(ts_in(kMaxTs, kMaxTs), (std::vector<int64_t>{kMaxTs}));
  EXPECT_EQ(ts_in(kMinTs, kMaxTs), (std::vector<int64_t>{kMinTs, -10, 10, 20, 30, kMaxTs}));
  EXPECT_EQ(ts_in(31, kMaxTs - 1), std::vector<int64_t>{});

  // scan() visits the same points, ascending, without copying them out.
  std::vector<int64_t> scanned;
  head.scan(3, -10, 20, [&](const Sample& s) { scanned.push_back(s.ts); });
  EXPECT_EQ(scanned, (std::vector<int64_t>{-10, 10, 20}));
  int calls = 0;
  head.scan(4, kMinTs, kMaxTs, [&](const Sample&) { ++calls; });
  head.scan(4000, kMinTs, kMaxTs, [&](const Sample&) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(HeadTest, DropForgetsASeries) {
  Head head;
  for (int64_t ts = 0; ts < 10; ++ts) head.append(1, ts, 1.0);
  for (int64_t ts = 0; ts < 5; ++ts) head.append(2, ts, 2.0);
  EXPECT_EQ(head.points(), 15u);

  head.drop(1);
  EXPECT_TRUE(head.range(1, kMinTs, kMaxTs).empty());
  EXPECT_EQ(head.latest(1), std::nullopt);
  EXPECT_EQ(head.points(), 5u);
  EXPECT_EQ(head.range(2, kMinTs, kMaxTs).size(), 5u) << "other series are untouched";
  EXPECT_EQ(head.latest(2)->ts, 4);

  head.drop(1);   // twice
  head.drop(77);  // never written
  EXPECT_EQ(head.points(), 5u);

  // A dropped series starts over when written again, without its old latest.
  EXPECT_FALSE(head.append(1, 3, 9.0));
  EXPECT_EQ(head.points(), 6u);
  EXPECT_EQ(head.latest(1)->ts, 3);
  EXPECT_EQ(head.range(1, kMinTs, kMaxTs).size(), 1u);

  head.clear();
  EXPECT_EQ(head.points(), 0u);
  EXPECT_TRUE(head.range(1, kMinTs, kMaxTs).empty());
  EXPECT_TRUE(head.range(2, kMinTs, kMaxTs).empty());
  EXPECT_EQ(head.latest(2), std::nullopt);
  EXPECT_FALSE(head.append(2, 1, 1.0));
  EXPECT_EQ(head.points(), 1u);
}

// Readers run on any thread while the commit thread appends, including to new series (which
// grows the head's table of series): they see every series sorted and never a torn point.
TEST(HeadTest, ReadersSeeSortedSeriesWhileTheWriterAppends) {
  Head head;
  constexpr SeriesId kSeries = 200;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    std::mt19937_64 rng(3);
    for (int round = 0; round < 40; ++round) {
      for (SeriesId id = 0; id < kSeries; ++id) {
        const int64_t ts = round * 10 - static_cast<int64_t>(rng() % 15);
        head.append(id, ts, static_cast<double>(ts) * 0.5);
      }
    }
    done = true;
  });
  std::vector<std::thread> readers;
  std::atomic<uint64_t> checked{0};
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&, r] {
      do {
        for (SeriesId id = static_cast<SeriesId>(r); id < kSeries; id += 2) {
          int64_t prev = kMinTs;
          bool first = true;
          head.scan(id, kMinTs, kMaxTs, [&](const Sample& s) {
            EXPECT_TRUE(first || s.ts > prev) << "series " << id;
            EXPECT_EQ(s.value, static_cast<double>(s.ts) * 0.5);
            prev = s.ts;
            first = false;
            checked.fetch_add(1, std::memory_order_relaxed);
          });
          if (auto l = head.latest(id)) {
            EXPECT_EQ(l->value, static_cast<double>(l->ts) * 0.5);
          }
        }
      } while (!done);
    });
  }
  writer.join();
  for (auto& t : readers) t.join();
  EXPECT_GT(checked.load(), 0u);
}

// ---------------------------------------------------------------------------------------------
// batch_record

std::string random_name(std::mt19937_64& rng) {
  size_t n = rng() % 8 == 0 ? 128 + rng() % 300 : rng() % 12;  // some need a 2-byte length
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());  // any bytes, NUL included
  return s;
}

int64_t random_ts(std::mt19937_64& rng, int64_t prev) {
  switch (rng() % 9) {
    case 0:
      return kMinTs;
    case 1:
      return kMaxTs;
    case 2:
      return 0;
    case 3:
      return -1;
    case 4:
      return static_cast<int64_t>(rng());  // anywhere
    case 5:
      return -static_cast<int64_t>(rng() % 4'000'000'000'000);  // before 1970
    default:
      // Near the previous point, forwards or backwards (wrapping like the codec does).
      return static_cast<int64_t>(static_cast<uint64_t>(prev) + rng() % 2001 - 1000);
  }
}

double random_value(std::mt19937_64& rng) {
  switch (rng() % 14) {
    case 0:
      return from_bits(0x7ff8000000000000ull | (rng() & 0x0007ffffffffffffull));  // quiet NaN
    case 1:
      return from_bits(0x7ff0000000000001ull | (rng() & 0x0003ffffffffffffull));  // signalling
    case 2:
      return from_bits(0xfff8000000000000ull | (rng() & 0xffff));  // negative NaN
    case 3:
      return std::numeric_limits<double>::infinity();
    case 4:
      return -std::numeric_limits<double>::infinity();
    case 5:
      return -0.0;
    case 6:
      return std::numeric_limits<double>::denorm_min();
    case 7:
      return std::numeric_limits<double>::max();
    case 8:
      return std::numeric_limits<double>::lowest();
    case 9:
      return from_bits(rng());  // any bit pattern
    default:
      return static_cast<double>(static_cast<int64_t>(rng() % 200'000) - 100'000) / 8;
  }
}

ReadingBatch random_batch(std::mt19937_64& rng) {
  ReadingBatch b;
  const size_t n_devices = rng() % 4 == 0 ? 130 + rng() % 20 : rng() % 5;
  const size_t n_metrics = rng() % 4 == 0 ? 130 + rng() % 20 : rng() % 5;
  for (size_t i = 0; i < n_devices; ++i) b.intern_device(random_name(rng));
  for (size_t i = 0; i < n_metrics; ++i) b.intern_metric(random_name(rng));
  if (!b.devices().empty() && !b.metrics().empty()) {
    const size_t n_points = rng() % 5 == 0 ? 200 + rng() % 2000 : rng() % 20;
    int64_t ts = 0;
    for (size_t i = 0; i < n_points; ++i) {
      ts = random_ts(rng, ts);
      b.add(static_cast<uint32_t>(rng() % b.devices().size()),
            static_cast<uint32_t>(rng() % b.metrics().size()), ts, random_value(rng));
    }
  }
  if (!b.devices().empty()) {
    const size_t n_attributes = rng() % 5;
    int64_t ts = 0;
    for (size_t i = 0; i < n_attributes; ++i) {
      ts = random_ts(rng, ts);
      b.add_attribute(static_cast<uint32_t>(rng() % b.devices().size()), random_name(rng),
                      random_name(rng), ts);
    }
  }
  return b;
}

std::string encode(const ReadingBatch& b) {
  std::string out;
  encode_batch_record(b, out);
  return out;
}

TEST(BatchRecordTest, BatchRecordRoundTripsEveryField) {
  // The empty batch, and a hand-made one with every awkward value.
  {
    ReadingBatch empty;
    ReadingBatch got = make_batch({{"leftover", "x", 1, 1}});
    ASSERT_TRUE(decode_batch_record(encode(empty), got).ok());
    expect_same_batch(empty, got);
    EXPECT_TRUE(got.empty());
  }
  ReadingBatch b;
  const uint32_t d = b.intern_device("dev-1");
  const uint32_t e = b.intern_device(""s);
  const uint32_t m = b.intern_metric("temp");
  const uint32_t n = b.intern_metric("with\0nul"s);
  b.add(d, m, 1'700'000'000'123, 21.5);
  b.add(d, n, kMinTs, std::numeric_limits<double>::quiet_NaN());
  b.add(e, m, kMaxTs, from_bits(0x7ff0000000000001ull));
  b.add(e, n, kMinTs, from_bits(0xfff800000000beefull));
  b.add(d, m, -1, -std::numeric_limits<double>::infinity());
  b.add(d, m, -1, -0.0);  // a repeated timestamp stays two points in the record
  b.add_attribute(d, "firmware", "1.2.3", 1'700'000'000'000);
  b.add_attribute(e, "", "", kMinTs);
  b.add_attribute(d, "k\0k"s, std::string(1000, '\xfe'), kMaxTs);
  b.intern_device("no points");
  ReadingBatch got;
  ASSERT_TRUE(decode_batch_record(encode(b), got).ok());
  expect_same_batch(b, got);

  // Random batches, decoded into a batch that already holds something.
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    ReadingBatch want = random_batch(rng);
    std::string record = encode(want);
    Status s = decode_batch_record(record, got);
    ASSERT_TRUE(s.ok()) << s.message();
    expect_same_batch(want, got);
    if (HasFatalFailure()) return;
    // The decoded batch interns like the original: names map to the same indexes.
    for (uint32_t i = 0; i < want.devices().size(); ++i) {
      ASSERT_EQ(got.intern_device(want.devices()[i]), i);
    }
    for (uint32_t i = 0; i < want.metrics().size(); ++i) {
      ASSERT_EQ(got.intern_metric(want.metrics()[i]), i);
    }
    // encode appends: a record after other bytes is unchanged.
    std::string after = "prefix";
    encode_batch_record(want, after);
    EXPECT_EQ(after, "prefix" + record);
  }
}

TEST(BatchRecordTest, CorruptBatchRecordIsCorruptionNotCrash) {
  std::mt19937_64 rng(11);
  ReadingBatch out;
  // Every truncation of a valid record, and a record with a byte too many.
  for (int i = 0; i < 40; ++i) {
    ReadingBatch b = random_batch(rng);
    const std::string record = encode(b);
    // Every length of the smaller records; of the big ones every 97th and the last 40.
    for (size_t len = 0; len < record.size();
         len += record.size() <= 2000 || len + 40 >= record.size() ? 1 : 97) {
      Status s = decode_batch_record(std::string_view(record).substr(0, len), out);
      ASSERT_EQ(s.code(), StatusCode::kCorruption)
          << "record " << i << " cut to " << len << " of " << record.size() << ": " << s.message();
    }
    EXPECT_EQ(decode_batch_record(record + '\0', out).code(), StatusCode::kCorruption);
  }

  // Crafted defects, each against a valid baseline: one device "a", one metric "m", one point
  // at ts 0 and no attributes.
  const std::string value8(8, '\0');
  const std::string valid =
      "\x01\x01\x01"s + "a" + "\x01\x01"s + "m" + "\x01\x00\x00\x00"s + value8 + "\x00"s;
  ASSERT_TRUE(decode_batch_record(valid, out).ok());
  ASSERT_EQ(out.points().size(), 1u);
  struct Defect {
    const char* what;
    std::string record;
    const char* reason;  // in the message
  };
  const std::string point = "\x00\x00\x00"s + value8;  // device 0, metric 0, ts delta 0
  const std::vector<Defect> defects = {
      {"version 0", "\x00"s + valid.substr(1), "unknown version"},
      {"version 2", "\x02"s + valid.substr(1), "unknown version"},
      {"duplicate device", "\x01\x02\x01"s + "a" + "\x01"s + "a" + valid.substr(4),
       "duplicate device name"},
      {"duplicate metric",
       "\x01\x01\x01"s + "a" + "\x02\x01"s + "m" + "\x01"s + "m" + valid.substr(7),
       "duplicate metric name"},
      {"unknown device", valid.substr(0, 7) + "\x01\x01\x00\x00"s + value8 + "\x00"s,
       "unknown name"},
      {"unknown metric", valid.substr(0, 7) + "\x01\x00\x01\x00"s + value8 + "\x00"s,
       "unknown name"},
      {"attribute of an unknown device",
       valid.substr(0, valid.size() - 1) + "\x01\x05\x01k\x01v\x00"s, "unknown device"},
      {"device count 2^63", "\x01"s + std::string(9, '\x80') + "\x01"s, "device count"},
      {"point count 2^62", valid.substr(0, 7) + std::string(8, '\xff') + "\x3f"s + valid.substr(8),
       "point count"},
      {"varint of 11 bytes", "\x01"s + std::string(11, '\xff'), "device count"},
      {"string longer than the record", "\x01\x01\x7f"s + "a", "device name"},
      // Two points announced, the second (with a padded 4-byte device varint) cut in its value.
      {"point cut short",
       valid.substr(0, 7) + "\x02"s + point + "\x80\x80\x80\x00\x00\x00"s + std::string(5, '\0'),
       "truncated point"},
      {"attribute cut short", valid.substr(0, valid.size() - 1) + "\x01\x00\x01k\x05v"s,
       "truncated attribute"},
  };
  for (const Defect& d : defects) {
    Status s = decode_batch_record(d.record, out);
    EXPECT_EQ(s.code(), StatusCode::kCorruption) << d.what;
    EXPECT_NE(s.message().find(d.reason), std::string::npos) << d.what << ": " << s.message();
  }

  // Random garbage and random damage to valid records: corruption or a batch that encodes
  // back to a record decoding to itself, never a crash or a huge allocation.
  int decoded = 0;
  for (int i = 0; i < 6'000; ++i) {
    std::string record;
    if (i % 2 == 0) {
      record.resize(rng() % 64);
      for (char& c : record) c = static_cast<char>(rng() % 4 == 0 ? rng() : rng() % 4);
      if (!record.empty() && rng() % 2 == 0) record[0] = '\x01';
    } else {
      ReadingBatch b = random_batch(rng);
      record = encode(b);
      const int flips = 1 + static_cast<int>(rng() % 3);
      for (int f = 0; f < flips; ++f) {
        record[rng() % record.size()] ^= static_cast<char>(1 << (rng() % 8));
      }
    }
    Status s = decode_batch_record(record, out);
    if (!s.ok()) {
      ASSERT_EQ(s.code(), StatusCode::kCorruption) << s.message();
      continue;
    }
    ++decoded;
    ReadingBatch again;
    ASSERT_TRUE(decode_batch_record(encode(out), again).ok());
    expect_same_batch(out, again);
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(decoded, 0) << "some damage leaves a well-formed record (a flipped value bit)";
}

// ---------------------------------------------------------------------------------------------
// TimeSeriesStore

constexpr const char* kStoreDir = "/data/tsdb";

struct Replay {
  int64_t received_ms;
  ReadingBatch batch;
};

// Expected content: (device, metric) -> ts -> value, later writes winning.
using Model = std::map<std::pair<std::string, std::string>, std::map<int64_t, double>>;

void add_to_model(Model& model, const ReadingBatch& b) {
  for (const Point& p : b.points()) {
    model[{b.devices()[p.device], b.metrics()[p.metric]}][p.ts_ms] = p.value;
  }
}

class StoreTest : public ::testing::Test {
 protected:
  static StoreOptions options() {
    StoreOptions o;
    o.dir = kStoreDir;
    o.background = false;
    return o;
  }

  // Opens the store, recording what the replay listener sees in replayed_.
  std::unique_ptr<TimeSeriesStore> open(const StoreOptions& o = options(),
                                        RecoveryReport* report = nullptr) {
    replayed_.clear();
    Result<std::unique_ptr<TimeSeriesStore>> s = TimeSeriesStore::open(
        fs_, o,
        [this](const ReadingBatch& b, int64_t received_ms) {
          replayed_.push_back({received_ms, b});
        },
        report);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  // The commit thread's sequence for one batch.
  static void write(TimeSeriesStore& store, const ReadingBatch& b, int64_t received_ms) {
    Status s = store.log(b, received_ms);
    ASSERT_TRUE(s.ok()) << s.message();
    s = store.commit();
    ASSERT_TRUE(s.ok()) << s.message();
    store.apply(b);
  }

  // Power loss: the machine stops (the store's destructor can write nothing more), then the
  // file system keeps only what was synced.
  void crash(std::unique_ptr<TimeSeriesStore>& store) {
    fs_.stop_after(0);
    store.reset();
    fs_.crash();
  }

  static std::vector<Sample> series(const TimeSeriesStore& store, const std::string& device,
                                    const std::string& metric) {
    std::vector<Sample> out;
    std::optional<SeriesId> id = store.index().find(device, metric);
    if (!id) return out;
    store.scan(*id, kMinTs, kMaxTs, [&](const Sample& s) { out.push_back(s); });
    return out;
  }

  static void expect_content(const TimeSeriesStore& store, const Model& model) {
    uint64_t points = 0;
    std::vector<std::string> devices;
    for (const auto& [key, pts] : model) {
      SCOPED_TRACE(key.first + "/" + key.second);
      std::vector<Sample> got = series(store, key.first, key.second);
      ASSERT_EQ(got.size(), pts.size());
      size_t i = 0;
      for (const auto& [ts, v] : pts) {
        EXPECT_EQ(got[i].ts, ts);
        EXPECT_EQ(bits(got[i].value), bits(v)) << "at ts " << ts;
        ++i;
      }
      std::optional<Sample> latest = store.latest(*store.index().find(key.first, key.second));
      ASSERT_TRUE(latest.has_value());
      EXPECT_EQ(latest->ts, pts.rbegin()->first);
      points += pts.size();
      if (devices.empty() || devices.back() != key.first) devices.push_back(key.first);
    }
    EXPECT_EQ(store.points(), points);
    EXPECT_EQ(store.series(), model.size());
    EXPECT_EQ(store.index().devices(), devices);
  }

  FaultInjectingFileSystem fs_;
  std::vector<Replay> replayed_;
};

TEST_F(StoreTest, StoreReplaysItsWalAfterACrash) {
  std::mt19937_64 rng(5);
  Model model;
  std::vector<Replay> committed;
  uint64_t committed_points = 0;
  auto store = open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->points(), 0u);

  for (int cycle = 0; cycle < 4; ++cycle) {
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    for (int i = 0; i < 12; ++i) {
      // Late points and repeats across batches, so replay order matters.
      std::vector<Reading> readings;
      const int n = 1 + static_cast<int>(rng() % 30);
      for (int k = 0; k < n; ++k) {
        readings.push_back({"dev" + std::to_string(rng() % 5), "m" + std::to_string(rng() % 3),
                            static_cast<int64_t>(rng() % 300) - 100,
                            static_cast<double>(rng() % 10'000) / 16});
      }
      ReadingBatch b = make_batch(readings);
      const int64_t received = 1'700'000'000'000 + cycle * 1000 + i;
      // Sometimes several batches share one commit (group commit).
      ASSERT_TRUE(store->log(b, received).ok());
      if (rng() % 3 != 0) {
        ASSERT_TRUE(store->commit().ok());
      }
      store->apply(b);
      add_to_model(model, b);
      committed.push_back({received, b});
      committed_points += b.points().size();
    }
    ASSERT_TRUE(store->commit().ok());
    expect_content(*store, model);

    // Logged but never committed: gone after the crash, including overwrites of old points.
    ReadingBatch lost = make_batch({{"ghost", "m0", 1, 1}, {"dev0", "m0", -100, 1e300}});
    for (int64_t ts = -100; ts < 200; ++ts) lost.add(1, 0, ts, 1e300);
    ASSERT_TRUE(store->log(lost, 1).ok());
    ASSERT_TRUE(store->log(make_batch({{"ghost", "m1", 2, 2}}), 2).ok());

    crash(store);
    RecoveryReport report;
    store = open(options(), &report);
    ASSERT_NE(store, nullptr);
    expect_content(*store, model);
    EXPECT_EQ(store->index().find("ghost", "m0"), std::nullopt);
    EXPECT_EQ(report.records, committed.size());
    EXPECT_EQ(report.points, committed_points);
    EXPECT_EQ(report.truncated_bytes, 0u);
    EXPECT_EQ(report.truncation, "");
    // The listener saw every committed batch once, in order, with its received time.
    ASSERT_EQ(replayed_.size(), committed.size());
    for (size_t i = 0; i < committed.size(); ++i) {
      SCOPED_TRACE("batch " + std::to_string(i));
      EXPECT_EQ(replayed_[i].received_ms, committed[i].received_ms);
      expect_same_batch(committed[i].batch, replayed_[i].batch);
    }
  }
}

// Attributes (a line's tags) are the catalog's: the WAL logs a batch's points and devices
// without them, so unchanged tags sent with every batch do not grow the log.
TEST_F(StoreTest, TheWalLogsPointsWithoutAttributes) {
  auto store = open();
  ReadingBatch tagged = make_batch({{"truck_1", "velocity", 1, 50.0}, {"truck_2", "grade", 2, 7}});
  for (uint32_t d = 0; d < 2; ++d) {
    tagged.add_attribute(d, "tag.fleet", "South", 1);
    tagged.add_attribute(d, "tag.driver", "Rodney", 1);
    tagged.add_attribute(d, "tag.model", "F-150", 1);
  }
  write(*store, tagged, 10);
  crash(store);
  store = open();
  Model model;
  model[{"truck_1", "velocity"}] = {{1, 50.0}};
  model[{"truck_2", "grade"}] = {{2, 7.0}};
  expect_content(*store, model);
  ASSERT_EQ(replayed_.size(), 1u);
  EXPECT_EQ(replayed_[0].batch.devices(), tagged.devices());
  EXPECT_TRUE(replayed_[0].batch.attributes().empty());
  // What the record would have cost with them, for scale.
  std::string with, without;
  encode_batch_record(tagged, with);
  encode_batch_record(tagged, without, /*with_attributes=*/false);
  EXPECT_LT(without.size() * 2, with.size());
}

TEST_F(StoreTest, FailedCommitIsNeitherVisibleNorReplayed) {
  auto store = open();
  write(*store, make_batch({{"d", "t", 1, 1.0}}), 10);
  // The disk fills up: the commit fails, so the commit thread does not apply the batch.
  fs_.set_space_left(20);
  ReadingBatch big;
  big.intern_device("d");
  big.intern_metric("t");
  for (int64_t ts = 2; ts < 200; ++ts) big.add(0, 0, ts, 2.0);
  ASSERT_TRUE(store->log(big, 20).ok());
  Status s = store->commit();
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_NE(s.message().find("disk full"), std::string::npos) << s.message();
  fs_.set_space_left(std::nullopt);

  // Once there is room the store goes on.
  write(*store, make_batch({{"d", "t", 3, 3.0}}), 30);
  crash(store);
  store = open();
  Model model;
  model[{"d", "t"}] = {{1, 1.0}, {3, 3.0}};
  expect_content(*store, model);
  ASSERT_EQ(replayed_.size(), 2u);
  EXPECT_EQ(replayed_[0].received_ms, 10);
  EXPECT_EQ(replayed_[1].received_ms, 30);
}

TEST_F(StoreTest, TornCommitIsCutOnRestartAndTheStoreGoesOn) {
  auto store = open();
  write(*store, make_batch({{"d", "t", 1, 1.0}, {"d", "h", 1, 50.0}}), 10);
  fs_.tear_next_write(9);
  ASSERT_TRUE(store->log(make_batch({{"d", "t", 2, 2.0}}), 20).ok());
  EXPECT_FALSE(store->commit().ok());
  crash(store);

  RecoveryReport report;
  store = open(options(), &report);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(report.records, 1u);
  EXPECT_EQ(report.points, 2u);
  EXPECT_EQ(report.truncated_bytes, 9u);
  EXPECT_NE(report.truncation, "");
  Model model;
  model[{"d", "h"}] = {{1, 50.0}};
  model[{"d", "t"}] = {{1, 1.0}};
  expect_content(*store, model);

  write(*store, make_batch({{"d", "t", 2, 2.0}}), 30);
  crash(store);
  RecoveryReport second;
  store = open(options(), &second);
  model[{"d", "t"}][2] = 2.0;
  expect_content(*store, model);
  EXPECT_EQ(second.truncated_bytes, 0u);
  EXPECT_EQ(second.records, 2u);
}

TEST_F(StoreTest, DeleteDeviceAndDeleteAllSurviveRestart) {
  auto store = open();
  write(*store,
        make_batch({{"a", "t", 1, 1}, {"a", "h", 1, 2}, {"b", "t", 1, 3}, {"c", "t", 1, 4}}), 100);
  const SeriesId old_a_t = *store->index().find("a", "t");
  ASSERT_TRUE(store->log_delete_device("a").ok());
  ASSERT_TRUE(store->log_delete_device("never-seen").ok());
  ASSERT_TRUE(store->commit().ok());
  store->apply_delete_device("a");
  store->apply_delete_device("never-seen");
  Model model;
  model[{"b", "t"}] = {{1, 3}};
  model[{"c", "t"}] = {{1, 4}};
  expect_content(*store, model);
  EXPECT_TRUE(store->index().metrics_of("a").empty());
  EXPECT_EQ(store->latest(old_a_t), std::nullopt);

  // The device comes back with only what it sends after the deletion.
  write(*store, make_batch({{"a", "t", 5, 50}}), 200);
  model[{"a", "t"}] = {{5, 50}};
  expect_content(*store, model);

  store.reset();  // a clean shutdown
  store = open();
  ASSERT_NE(store, nullptr);
  expect_content(*store, model);
  EXPECT_EQ(store->index().find("a", "h"), std::nullopt);

  ASSERT_TRUE(store->log_delete_all().ok());
  ASSERT_TRUE(store->commit().ok());
  store->apply_delete_all();
  expect_content(*store, {});
  write(*store, make_batch({{"c", "x", 9, 9}}), 300);

  crash(store);
  RecoveryReport report;
  store = open(options(), &report);
  ASSERT_NE(store, nullptr);
  model.clear();
  model[{"c", "x"}] = {{9, 9}};
  expect_content(*store, model);
  EXPECT_EQ(report.records, 6u) << "3 batches, 2 device deletions, 1 delete-all";
  EXPECT_EQ(replayed_.size(), 3u) << "the listener sees every batch, deleted or not";
}

TEST_F(StoreTest, StoreIsOverBudgetOnceTheHeadHoldsMaxHeadPoints) {
  StoreOptions o = options();
  o.max_head_points = 10;
  auto store = open(o);
  EXPECT_FALSE(store->over_budget());
  std::vector<Reading> nine;
  for (int64_t ts = 0; ts < 9; ++ts) nine.push_back({"d", "t", ts, 1.0});
  write(*store, make_batch(nine), 1);
  EXPECT_FALSE(store->over_budget());
  write(*store, make_batch({{"d", "t", 3, 2.0}}), 2);  // an overwrite takes no room
  EXPECT_EQ(store->points(), 9u);
  EXPECT_FALSE(store->over_budget());
  write(*store, make_batch({{"e", "t", 0, 1.0}}), 3);
  EXPECT_EQ(store->points(), 10u);
  EXPECT_TRUE(store->over_budget());

  // The budget holds after a restart, which replays the same points...
  crash(store);
  store = open(o);
  EXPECT_EQ(store->points(), 10u);
  EXPECT_TRUE(store->over_budget());
  // ...and deleting data frees it.
  ASSERT_TRUE(store->log_delete_device("e").ok());
  ASSERT_TRUE(store->commit().ok());
  store->apply_delete_device("e");
  EXPECT_FALSE(store->over_budget());
}

// A batch with many devices and metrics but few points resolves its series through a hash map
// instead of a dense table; the points must land on the same series either way.
TEST_F(StoreTest, SparseBatchesLandOnTheRightSeries) {
  auto store = open();
  ReadingBatch b;
  for (int i = 0; i < 100; ++i) {
    b.intern_device("d" + std::to_string(i));
    b.intern_metric("m" + std::to_string(i));
  }
  Model model;
  // Pairs whose device and metric indexes swap or add up to the same number (a careless key
  // would merge them), two points each.
  for (uint32_t d = 0; d <= 40; ++d) {
    const uint32_t m = 40 - d;
    b.add(d, m, d, d * 1.5);
    b.add(d, m, -static_cast<int64_t>(m), -1.0 - m);
    model[{b.devices()[d], b.metrics()[m]}][d] = d * 1.5;
    model[{b.devices()[d], b.metrics()[m]}][-static_cast<int64_t>(m)] = -1.0 - m;
  }
  write(*store, b, 1);
  expect_content(*store, model);
  crash(store);
  store = open();
  expect_content(*store, model);
}

// Ids looked up on a submitting thread (find_series) before the commit thread applies: new
// series are created at apply, and a removal in between is seen by the removal generation.
TEST_F(StoreTest, SeriesFoundBeforeApplyLandOnTheRightSeries) {
  auto store = open();
  write(*store, make_batch({{"a", "t", 1, 1}, {"b", "t", 1, 2}}), 100);
  ReadingBatch next = make_batch({{"a", "t", 2, 3}, {"a", "new", 2, 4}, {"b", "t", 2, 5}});
  const uint64_t generation = store->removal_generation();
  std::vector<SeriesId> ids = store->find_series(next);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0], *store->index().find("a", "t"));
  EXPECT_EQ(ids[1], kNoSeries) << "a series that does not exist yet is not created by a lookup";
  EXPECT_EQ(ids[2], *store->index().find("b", "t"));
  EXPECT_EQ(store->series(), 2u);

  // Device "a" is removed after the lookup and before the apply: its ids are stale.
  ASSERT_TRUE(store->log_delete_device("a").ok());
  ASSERT_TRUE(store->commit().ok());
  store->apply_delete_device("a");
  EXPECT_NE(store->removal_generation(), generation);
  ASSERT_TRUE(store->log(next, 200).ok());
  ASSERT_TRUE(store->commit().ok());
  store->apply(next);  // what the Ingestor does when the generation moved

  // A batch applied with fresh ids, one of them for a series created at apply.
  ReadingBatch third = make_batch({{"b", "t", 3, 6}, {"c", "x", 3, 7}});
  std::vector<SeriesId> third_ids = store->find_series(third);
  EXPECT_EQ(third_ids[1], kNoSeries);
  ASSERT_TRUE(store->log(third, 300).ok());
  ASSERT_TRUE(store->commit().ok());
  store->apply(third, third_ids);

  Model model;
  model[{"a", "t"}] = {{2, 3}};
  model[{"a", "new"}] = {{2, 4}};
  model[{"b", "t"}] = {{1, 2}, {2, 5}, {3, 6}};
  model[{"c", "x"}] = {{3, 7}};
  expect_content(*store, model);
  crash(store);
  store = open();
  expect_content(*store, model);
}

TEST_F(StoreTest, SparseBatchesFoundBeforeApplyLandOnTheRightSeries) {
  auto store = open();
  ReadingBatch b;
  for (int i = 0; i < 3000; ++i) b.intern_device("d" + std::to_string(i));
  for (int i = 0; i < 100; ++i) b.intern_metric("m" + std::to_string(i));
  Model model;
  // devices x metrics far above the points: find_series takes its hash-map path.
  for (uint32_t d = 0; d < 3000; d += 7) {
    const uint32_t m = (d * 13) % 100;
    b.add(d, m, d, d * 0.5);
    model[{b.devices()[d], b.metrics()[m]}][d] = d * 0.5;
  }
  write(*store, b, 1);  // every series exists now
  ReadingBatch again;
  for (const auto& dev : b.devices()) again.intern_device(dev);
  for (const auto& met : b.metrics()) again.intern_metric(met);
  for (uint32_t d = 0; d < 3000; d += 7) {
    const uint32_t m = (d * 13) % 100;
    again.add(d, m, d + 1, d * 2.0);
    model[{b.devices()[d], b.metrics()[m]}][d + 1] = d * 2.0;
  }
  std::vector<SeriesId> ids = store->find_series(again);
  for (size_t i = 0; i < ids.size(); ++i) {
    const Point& p = again.points()[i];
    ASSERT_EQ(ids[i], *store->index().find(again.devices()[p.device], again.metrics()[p.metric]));
  }
  ASSERT_TRUE(store->log(again, 2).ok());
  ASSERT_TRUE(store->commit().ok());
  store->apply(again, ids);
  expect_content(*store, model);
}

// ---------------------------------------------------------------------------------------------
// Aggregates

class AggregateTest : public StoreTest {
 protected:
  // One series "d"/"t", written in a shuffled order unless `in_order`.
  SeriesId load(std::vector<std::pair<int64_t, double>> points, bool in_order = false) {
    if (!in_order) std::shuffle(points.begin(), points.end(), std::mt19937_64(9));
    store_ = open();
    ReadingBatch b;
    b.intern_device("d");
    b.intern_metric("t");
    for (const auto& [ts, v] : points) b.add(0, 0, ts, v);
    write(*store_, b, 0);
    return *store_->index().find("d", "t");
  }

  std::unique_ptr<TimeSeriesStore> store_;
};

struct Expected {
  int64_t start;
  double min, max, sum;
  uint64_t count;
  int64_t first_ts;
  double first;
  int64_t last_ts;
  double last;
};

void expect_buckets(const Result<std::vector<query::Bucket>>& got,
                    const std::vector<Expected>& want) {
  ASSERT_TRUE(got.ok()) << got.status().message();
  ASSERT_EQ(got->size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const query::Bucket& b = (*got)[i];
    const Expected& w = want[i];
    SCOPED_TRACE("bucket " + std::to_string(w.start));
    EXPECT_EQ(b.start, w.start);
    EXPECT_EQ(b.min, w.min);
    EXPECT_EQ(b.max, w.max);
    EXPECT_EQ(b.sum, w.sum);
    EXPECT_EQ(b.count, w.count);
    EXPECT_EQ(b.first_ts, w.first_ts);
    EXPECT_EQ(b.first, w.first);
    EXPECT_EQ(b.last_ts, w.last_ts);
    EXPECT_EQ(b.last, w.last);
  }
}

TEST_F(AggregateTest, AggregateBucketsAlignToTheEpochAndComputeAllStatistics) {
  const SeriesId id = load({{-2500, 4},
                            {-2000, 1},
                            {-1001, -3},
                            {-1000, 2},
                            {-1, 8},
                            {0, 5},
                            {999, -1},
                            {1000, 7},
                            {3500, 2.5}});
  // Buckets [-3000, -2000), [-2000, -1000), ...; 2000 holds nothing and is left out.
  expect_buckets(query::aggregate_series(*store_, id, kMinTs, kMaxTs, 1000),
                 {
                     {-3000, 4, 4, 4, 1, -2500, 4, -2500, 4},
                     {-2000, -3, 1, -2, 2, -2000, 1, -1001, -3},
                     {-1000, 2, 8, 10, 2, -1000, 2, -1, 8},
                     {0, -1, 5, 4, 2, 0, 5, 999, -1},
                     {1000, 7, 7, 7, 1, 1000, 7, 1000, 7},
                     {3000, 2.5, 2.5, 2.5, 1, 3500, 2.5, 3500, 2.5},
                 });
  // The range is inclusive at both ends and cuts into buckets.
  expect_buckets(query::aggregate_series(*store_, id, -1001, 999, 1000),
                 {
                     {-2000, -3, -3, -3, 1, -1001, -3, -1001, -3},
                     {-1000, 2, 8, 10, 2, -1000, 2, -1, 8},
                     {0, -1, 5, 4, 2, 0, 5, 999, -1},
                 });
  // One bucket for everything.
  expect_buckets(query::aggregate_series(*store_, id, kMinTs, kMaxTs, 1'000'000),
                 {
                     {-1'000'000, -3, 8, 12, 5, -2500, 4, -1, 8},
                     {0, -1, 7, 13.5, 4, 0, 5, 3500, 2.5},
                 });
  // No data in range, or no such series: no buckets.
  expect_buckets(query::aggregate_series(*store_, id, 4000, 5000, 1000), {});
  expect_buckets(query::aggregate_series(*store_, id + 1000, kMinTs, kMaxTs, 1000), {});

  EXPECT_EQ(query::bucket_start(-1, 1000), -1000);
  EXPECT_EQ(query::bucket_start(-1000, 1000), -1000);
  EXPECT_EQ(query::bucket_start(-1001, 1000), -2000);
  EXPECT_EQ(query::bucket_start(0, 1000), 0);
  EXPECT_EQ(query::bucket_start(999, 1000), 0);
}

TEST_F(AggregateTest, HourAndDayBucketsStartOnTheHourAndAtMidnightUtc) {
  // 2023-11-14T22:13:20.123Z; the hour starts at 22:00, the day at 00:00.
  constexpr int64_t kT = 1'700'000'000'123;
  constexpr int64_t kHour = 3'600'000;
  constexpr int64_t kDay = 86'400'000;
  const SeriesId id = load({{kT, 1}, {1'700'002'799'999, 2}, {1'700'002'800'000, 3}});
  expect_buckets(query::aggregate_series(*store_, id, 0, kMaxTs, kHour),
                 {
                     {1'699'999'200'000, 1, 2, 3, 2, kT, 1, 1'700'002'799'999, 2},
                     {1'700'002'800'000, 3, 3, 3, 1, 1'700'002'800'000, 3, 1'700'002'800'000, 3},
                 });
  expect_buckets(query::aggregate_series(*store_, id, 0, kMaxTs, kDay),
                 {{1'699'920'000'000, 1, 3, 6, 3, kT, 1, 1'700'002'800'000, 3}});
  EXPECT_EQ(query::bucket_start(-1, kHour), -kHour);
}

TEST_F(AggregateTest, AggregateRefusesTooManyBuckets) {
  std::vector<std::pair<int64_t, double>> points;
  for (int64_t ts = 0; ts <= 10; ++ts) points.push_back({ts, 1.0});
  const SeriesId id = load(points);

  Result<std::vector<query::Bucket>> r = query::aggregate_series(*store_, id, 0, 10, 1, 10);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("more than 10 buckets"), std::string::npos)
      << r.status().message();
  r = query::aggregate_series(*store_, id, 0, 10, 1, 11);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->size(), 11u);
  r = query::aggregate_series(*store_, id, 1, 10, 1, 10);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->size(), 10u);
  r = query::aggregate_series(*store_, id, 0, 10, 2, 10);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->size(), 6u);

  EXPECT_EQ(query::aggregate_series(*store_, id, 0, 10, 0).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(query::aggregate_series(*store_, id, 0, 10, -1000).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(AggregateTest, DefaultLimitIsOneHundredThousandBuckets) {
  std::vector<std::pair<int64_t, double>> points;
  for (int64_t ts = 0; ts <= 100'000; ++ts) points.push_back({ts, 1.0});
  const SeriesId id = load(points, /*in_order=*/true);
  EXPECT_EQ(query::aggregate_series(*store_, id, 0, 100'000, 1).status().code(),
            StatusCode::kInvalidArgument);
  Result<std::vector<query::Bucket>> r = query::aggregate_series(*store_, id, 0, 99'999, 1);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->size(), 100'000u);
}

TEST(ParseAggregatesTest, ParseAggregatesAcceptsTheListAndRejectsUnknown) {
  using namespace query;
  auto parsed = [](std::string_view list) {
    Result<uint8_t> r = parse_aggregates(list);
    EXPECT_TRUE(r.ok()) << list << ": " << r.status().message();
    return r.ok() ? *r : uint8_t{0};
  };
  EXPECT_EQ(parsed("min"), kMin);
  EXPECT_EQ(parsed("min,max"), kMin | kMax);
  EXPECT_EQ(parsed("max,min,max"), kMin | kMax);
  EXPECT_EQ(parsed("avg"), kAvg);
  EXPECT_EQ(parsed("mean"), kAvg);
  EXPECT_EQ(parsed("first,last"), kFirst | kLast);
  EXPECT_EQ(parsed("min,max,sum,count,avg,first,last"),
            kMin | kMax | kSum | kCount | kAvg | kFirst | kLast);
  EXPECT_EQ(parsed("count,"), kCount);
  EXPECT_EQ(parsed(",sum,,"), kSum);
  EXPECT_EQ(parsed(""), kDefaultAggregates);
  EXPECT_EQ(parsed(","), kDefaultAggregates);
  EXPECT_EQ(kDefaultAggregates, kMin | kMax | kAvg | kSum | kCount);

  for (std::string_view bad : {"median", "min,median", "MIN", " min", "min ", "p99,max"}) {
    Result<uint8_t> r = parse_aggregates(bad);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  Result<uint8_t> r = parse_aggregates("min,median,max");
  EXPECT_NE(r.status().message().find("'median'"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace fp::tsdb
