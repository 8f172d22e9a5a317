// Blocks and the sealed part of the store as a spec: what a block file holds and how every
// damaged byte is caught; how the head is sealed into blocks and the WAL cut behind it; what
// a restart, a crash in the middle of a flush, late data, overwrites, device deletions,
// compaction, rollups and retention leave visible. Crashes come from FaultInjectingFileSystem
// and time from a ManualClock; the block thread is off (background = false) so each step is
// driven by the test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "query/aggregate.h"
#include "storage/block/block_frame.h"
#include "storage/block/block_reader.h"
#include "storage/block/block_salvage.h"
#include "storage/block/block_writer.h"
#include "storage/fs/fault_injecting_file_system.h"
#include "storage/tsdb/rollup.h"
#include "storage/tsdb/time_series_store.h"
#include "storage/wal/crc32c.h"
#include "util/clock.h"

namespace fp::tsdb {
namespace {

constexpr int64_t kMinTs = std::numeric_limits<int64_t>::min();
constexpr int64_t kMaxTs = std::numeric_limits<int64_t>::max();
constexpr int64_t kDay = 86'400'000;
constexpr int64_t kT0 = 1'767'225'600'000;  // 2026-01-01T00:00:00Z, a partition start
constexpr const char* kDir = "/data/tsdb";

// ---------------------------------------------------------------------------------------------
// Block files

std::string write_block(FaultInjectingFileSystem& fs, const std::string& payload_a,
                        const std::string& payload_b) {
  block::BlockMeta meta;
  meta.id = 7;
  meta.seq = 3;
  meta.resolution = block::Resolution::kMinute;
  meta.partition_start = kT0;
  meta.partition_ms = kDay;
  meta.replaces = {4, 5};
  auto w = block::BlockWriter::create(fs, "/b", "x.blk", meta);
  EXPECT_TRUE(w.ok());
  EXPECT_TRUE((*w)->add({"dev-a", "temp", 10, 20, 1.5, 2}, payload_a).ok());
  EXPECT_TRUE((*w)->add({"dev-b", "hum", -5, 5, -2.5, 9}, payload_b).ok());
  EXPECT_TRUE((*w)->finish().ok());
  return "/b/x.blk";
}

TEST(BlockFileTest, RoundTripsMetaEntriesAndPayloads) {
  FaultInjectingFileSystem fs;
  const std::string repetitive(5000, 'z');  // compresses: stored with zstd
  const std::string path = write_block(fs, "short", repetitive);
  EXPECT_FALSE(fs.exists(path + ".tmp"));
  auto r = block::BlockReader::open(fs, path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const auto& m = (*r)->meta();
  EXPECT_EQ(m.id, 7u);
  EXPECT_EQ(m.seq, 3u);
  EXPECT_EQ(m.resolution, block::Resolution::kMinute);
  EXPECT_EQ(m.partition_start, kT0);
  EXPECT_EQ(m.partition_ms, kDay);
  EXPECT_EQ(m.replaces, (std::vector<uint64_t>{4, 5}));
  ASSERT_EQ((*r)->entries().size(), 2u);
  const auto& a = (*r)->entries()[0];
  const auto& b = (*r)->entries()[1];
  EXPECT_EQ(a.device, "dev-a");
  EXPECT_EQ(a.metric, "temp");
  EXPECT_EQ(a.min_ts, 10);
  EXPECT_EQ(a.max_ts, 20);
  EXPECT_EQ(a.last_value, 1.5);
  EXPECT_EQ(a.count, 2u);
  EXPECT_EQ(a.raw_len, 0u) << "a short payload is stored as is";
  EXPECT_EQ(b.raw_len, 5000u) << "a repetitive payload is stored compressed";
  EXPECT_LT(b.stored_len, 100u);
  EXPECT_EQ(*(*r)->payload(a), "short");
  EXPECT_EQ(*(*r)->payload(b), repetitive);
}

// Many short series whose descriptions compress well (one point each, as where a flush
// straddles a partition boundary) take fewer than 16 bytes of the data section per series.
TEST(BlockFileTest, ManyOnePointSeriesRoundTrip) {
  FaultInjectingFileSystem fs;
  block::BlockMeta meta;
  meta.id = 1;
  meta.partition_start = kT0;
  meta.partition_ms = kDay;
  auto w = block::BlockWriter::create(fs, "/b", "many.blk", meta);
  ASSERT_TRUE(w.ok());
  constexpr int kSeries = 20'000;
  for (int i = 0; i < kSeries; ++i) {
    const std::string device = "truck_" + std::to_string(i / 7);
    ASSERT_TRUE((*w)->add({device, "velocity", kT0, kT0, 1.0, 1}, "p").ok());
  }
  auto size = (*w)->finish();
  ASSERT_TRUE(size.ok());
  EXPECT_LT(*size, uint64_t{kSeries} * 16) << "the case this test is for";
  auto r = block::BlockReader::open(fs, "/b/many.blk");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ((*r)->entries().size(), size_t{kSeries});
  // Names are stored once per block: a device's seven entries share its name's bytes.
  const auto& e = (*r)->entries();
  EXPECT_EQ(e[0].device, "truck_0");
  EXPECT_EQ(e[0].device.data(), e[6].device.data());
  EXPECT_EQ(e[0].metric.data(), e[kSeries - 1].metric.data());
  EXPECT_NE(e[0].device.data(), e[7].device.data());
  EXPECT_EQ(e[7].device, "truck_1");
}

TEST(BlockFileTest, EveryFlippedBitIsCaughtAsCorruption) {
  FaultInjectingFileSystem fs;
  const std::string path = write_block(fs, "payload-one", std::string(300, 'q'));
  const uint64_t size = *fs.file_size(path);
  for (uint64_t offset = 0; offset < size; ++offset) {
    for (int bit : {0, 5}) {
      SCOPED_TRACE("offset " + std::to_string(offset) + " bit " + std::to_string(bit));
      ASSERT_TRUE(fs.flip_bit(path, offset, bit).ok());
      auto r = block::BlockReader::open(fs, path);
      bool caught = !r.ok();
      if (r.ok()) {
        for (const auto& e : (*r)->entries()) caught |= !(*r)->payload(e).ok();
      }
      EXPECT_TRUE(caught);
      if (!r.ok()) {
        EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
      }
      ASSERT_TRUE(fs.flip_bit(path, offset, bit).ok());  // repair
    }
  }
  EXPECT_TRUE(block::BlockReader::open(fs, path).ok());
}

TEST(BlockFileTest, TruncatedFileIsCorruption) {
  FaultInjectingFileSystem fs;
  const std::string path = write_block(fs, "abc", "def");
  const std::string bytes = *fs.read_file(path);
  for (size_t n : {size_t{0}, size_t{10}, bytes.size() / 2, bytes.size() - 1}) {
    fs.put_file("/b/t.blk", bytes.substr(0, n));
    auto r = block::BlockReader::open(fs, "/b/t.blk");
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  }
}

// A version-1 block (16-byte header, series keys only in the index), encoded by hand as the
// writer of format version 1 did: blocks written before version 2 must still be read.
std::string v1_block(const std::string& payload_a, const std::string& payload_b) {
  std::string f(block::kHeaderMagic);
  block::put_fixed<uint16_t>(&f, block::kVersion);
  block::put_fixed<uint8_t>(&f, 0);
  block::put_fixed<uint8_t>(&f, 0);
  block::put_fixed<uint32_t>(&f, 0);
  std::string index;
  index.push_back(1);  // one replaced block id
  block::put_fixed<uint64_t>(&index, 4);
  index.push_back(2);  // two entries
  auto entry = [&](const std::string& dev, int64_t lo, int64_t hi, const std::string& payload) {
    index.push_back(static_cast<char>(dev.size()));
    index += dev;
    index.push_back(4);
    index += "temp";
    block::put_fixed<int64_t>(&index, lo);
    block::put_fixed<int64_t>(&index, hi);
    block::put_fixed<double>(&index, 2.5);
    block::put_fixed<uint32_t>(&index, 3);
    block::put_fixed<uint64_t>(&index, f.size());
    block::put_fixed<uint32_t>(&index, static_cast<uint32_t>(payload.size()));
    block::put_fixed<uint32_t>(&index, 0);
    block::put_fixed<uint32_t>(&index, crc32c(payload));
    f += payload;
  };
  entry("old-a", kT0 + 1, kT0 + 9, payload_a);
  entry("old-b", kT0 + 2, kT0 + 8, payload_b);
  const uint64_t index_offset = f.size();
  f += index;
  std::string footer;
  block::put_fixed<uint64_t>(&footer, index_offset);
  block::put_fixed<uint32_t>(&footer, static_cast<uint32_t>(index.size()));
  block::put_fixed<uint32_t>(&footer, 0);
  block::put_fixed<uint32_t>(&footer, crc32c(index));
  block::put_fixed<uint32_t>(&footer, 0);
  block::put_fixed<uint64_t>(&footer, 9);
  block::put_fixed<uint64_t>(&footer, 11);
  block::put_fixed<int64_t>(&footer, kT0);
  block::put_fixed<int64_t>(&footer, kDay);
  block::put_fixed<uint32_t>(&footer, crc32c(footer));
  footer += block::kFooterMagic;
  return f + footer;
}

TEST(BlockFileTest, VersionOneBlocksAreStillReadAndSalvaged) {
  FaultInjectingFileSystem fs;
  fs.put_file("/b/old.blk", v1_block("first payload", "second payload"));
  auto r = block::BlockReader::open(fs, "/b/old.blk");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)->meta().id, 11u);
  EXPECT_EQ((*r)->meta().seq, 9u);
  EXPECT_EQ((*r)->meta().replaces, (std::vector<uint64_t>{4}));
  ASSERT_EQ((*r)->entries().size(), 2u);
  EXPECT_EQ((*r)->entries()[1].device, "old-b");
  EXPECT_EQ((*r)->entries()[1].min_ts, kT0 + 2);
  EXPECT_EQ(*(*r)->payload((*r)->entries()[0]), "first payload");
  // Salvage of a version-1 block with a damaged footer still reads its index.
  const uint64_t size = *fs.file_size("/b/old.blk");
  ASSERT_TRUE(fs.flip_bit("/b/old.blk", size - 64 + 24, 3).ok());  // seq
  auto s = block::salvage_block(*fs.map_file("/b/old.blk"), kDay);
  EXPECT_FALSE(s.whole());
  EXPECT_EQ(s.good.size(), 2u);
  EXPECT_TRUE(s.range_known);
}

// Where each entry's payload lies: [offset, end).
std::vector<std::pair<uint64_t, uint64_t>> entry_spans(const block::BlockReader& r) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (const auto& e : r.entries()) out.emplace_back(e.offset, e.offset + e.stored_len);
  return out;
}

std::string v2_block_of(FaultInjectingFileSystem& fs, int series) {
  block::BlockMeta meta{7, 3, block::Resolution::kRaw, kT0, kDay, {4}};
  auto w = block::BlockWriter::create(fs, "/b", "v2.blk", meta);
  EXPECT_TRUE(w.ok());
  for (int i = 0; i < series; ++i) {
    const std::string dev = "dev-" + std::to_string(i);
    EXPECT_TRUE(
        (*w)->add({dev, "temp", kT0 + i, kT0 + 100 + i, i * 1.5, 10}, "payload of " + dev).ok());
  }
  EXPECT_TRUE((*w)->finish().ok());
  return "/b/v2.blk";
}

TEST(BlockFileTest, EveryByteFlipKeepsEverySeriesWhoseOwnBytesAreIntact) {
  // The block describes itself: a flipped byte in the header, the end frame, the index or the
  // footer costs nothing; in a payload, that series; in the group frame, the group's series
  // (here all: they are few), reported as readings of unknown series over the partition.
  FaultInjectingFileSystem fs;
  const std::string path = v2_block_of(fs, 4);
  auto whole = block::BlockReader::open(fs, path);
  ASSERT_TRUE(whole.ok()) << whole.status().message();
  const auto spans = entry_spans(**whole);
  const uint64_t group_frame_end = spans.front().first;
  const uint64_t size = *fs.file_size(path);
  for (uint64_t offset = 0; offset < size; ++offset) {
    SCOPED_TRACE("offset " + std::to_string(offset));
    ASSERT_TRUE(fs.flip_bit(path, offset, 2).ok());
    auto s = block::salvage_block(*fs.map_file(path), kDay);
    ASSERT_FALSE(s.whole());
    const bool in_group_frame = offset >= block::kHeaderBytesV2 && offset < group_frame_end;
    if (in_group_frame && !s.reader) {
      ASSERT_TRUE(fs.flip_bit(path, offset, 2).ok());
      continue;  // the only group frame: nothing identifiable, the footer's range is lost
    }
    ASSERT_TRUE(s.reader);
    EXPECT_TRUE(s.range_known);
    EXPECT_EQ(s.meta.partition_start, kT0);
    std::set<std::string> good;
    for (uint32_t i : s.good) {
      const auto& e = s.reader->entries()[i];
      EXPECT_EQ(*s.reader->payload(e), "payload of " + std::string(e.device));
      good.emplace(e.device);
    }
    bool hit_a_payload = false;
    for (size_t i = 0; i < spans.size(); ++i) {
      const bool hit = offset >= spans[i].first && offset < spans[i].second;
      hit_a_payload |= hit;
      if (!hit && !in_group_frame) {
        EXPECT_TRUE(good.count("dev-" + std::to_string(i))) << i;
      }
    }
    if (!hit_a_payload && !in_group_frame) {
      EXPECT_TRUE(s.lost.empty());
    }
    for (uint32_t i : s.lost) {
      const auto& e = s.reader->entries()[i];
      if (e.device.empty()) {
        EXPECT_EQ(e.min_ts, kT0);
        EXPECT_EQ(e.max_ts, kT0 + kDay - 1);
      }
    }
    ASSERT_TRUE(fs.flip_bit(path, offset, 2).ok());
  }
}

TEST(BlockFileTest, ADamagedGroupFrameCostsOnlyItsGroup) {
  // Enough data for several groups: a flip in the second group's frame loses its series and
  // no other.
  FaultInjectingFileSystem fs;
  block::BlockMeta meta{8, 3, block::Resolution::kRaw, kT0, kDay, {}};
  auto w = block::BlockWriter::create(fs, "/b", "g.blk", meta);
  ASSERT_TRUE(w.ok());
  std::mt19937_64 rng(5);
  for (int i = 0; i < 40; ++i) {
    std::string payload(8000, '\0');
    for (auto& c : payload) c = static_cast<char>(rng());  // incompressible
    ASSERT_TRUE((*w)->add({"dev-" + std::to_string(i), "temp", kT0, kT0 + 1, 1, 2}, payload).ok());
  }
  ASSERT_TRUE((*w)->finish().ok());
  auto r = block::BlockReader::open(fs, "/b/g.blk");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const auto& entries = (*r)->entries();
  // Group boundaries: where a payload does not start right after the previous one.
  std::vector<size_t> firsts;
  for (size_t i = 1; i < entries.size(); ++i)
    if (entries[i].offset != entries[i - 1].offset + entries[i - 1].stored_len) firsts.push_back(i);
  ASSERT_GE(firsts.size(), 2u) << "expected several groups";
  const size_t g = firsts[0];  // first series of the second group
  const uint64_t frame_at = entries[g - 1].offset + entries[g - 1].stored_len;
  ASSERT_TRUE(fs.flip_bit("/b/g.blk", frame_at + 7, 1).ok());
  auto s = block::salvage_block(*fs.map_file("/b/g.blk"), kDay);
  ASSERT_TRUE(s.reader);
  std::set<std::string> good;
  for (uint32_t i : s.good) good.emplace(s.reader->entries()[i].device);
  for (size_t i = 0; i < entries.size(); ++i)
    EXPECT_EQ(good.count(std::string(entries[i].device)), i < g || i >= firsts[1] ? 1u : 0u) << i;
  ASSERT_FALSE(s.lost.empty());
  EXPECT_EQ(s.reader->entries()[s.lost.back()].device, "") << "an unknown loss";
}

TEST(BlockFileTest, TruncatedBlockKeepsEveryPayloadBeforeTheCut) {
  FaultInjectingFileSystem fs;
  const std::string path = v2_block_of(fs, 5);
  const std::string bytes = *fs.read_file(path);
  auto whole = block::BlockReader::open(fs, path);
  ASSERT_TRUE(whole.ok());
  const auto spans = entry_spans(**whole);
  const auto index_offset = block::get_fixed<uint64_t>(bytes.data() + bytes.size() - 64);
  for (size_t cut = block::kHeaderBytesV2; cut < bytes.size(); cut += 7) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    fs.put_file("/b/t.blk", bytes.substr(0, cut));
    auto s = block::salvage_block(*fs.map_file("/b/t.blk"), kDay);
    ASSERT_FALSE(s.whole());
    size_t before_cut = 0;
    for (const auto& sp : spans) before_cut += sp.second <= cut;
    if (before_cut == 0 && cut < spans[0].second) continue;  // nothing identifiable yet
    ASSERT_TRUE(s.reader);
    EXPECT_EQ(s.good.size(), before_cut);
    EXPECT_TRUE(s.range_known) << "the header says which partition";
    if (cut >= index_offset) {  // the end frame is whole: every series is known and kept
      EXPECT_TRUE(s.lost.empty());
      continue;
    }
    // The rest of the block is unknown: one lost entry stands for every series.
    ASSERT_FALSE(s.lost.empty());
    const auto& unknown = s.reader->entries()[s.lost.back()];
    EXPECT_EQ(unknown.device, "");
    EXPECT_EQ(unknown.min_ts, kT0);
  }
}

TEST(RollupTest, BuildsBucketsAndRoundTripsThroughThePayload) {
  std::vector<Sample> s = {{0, 5}, {30'000, 1}, {59'999, 3}, {60'000, -2}, {250'000, 7}};
  auto b = build_rollups(s, 60'000);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0].start, 0);
  EXPECT_EQ(b[0].min, 1);
  EXPECT_EQ(b[0].max, 5);
  EXPECT_EQ(b[0].sum, 9);
  EXPECT_EQ(b[0].count, 3u);
  EXPECT_EQ(b[0].first, 5);
  EXPECT_EQ(b[0].last, 3);
  EXPECT_EQ(b[2].start, 240'000);
  auto back = decode_rollups(encode_rollups(b));
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*back)[i].start, b[i].start);
    EXPECT_EQ((*back)[i].sum, b[i].sum);
    EXPECT_EQ((*back)[i].count, b[i].count);
    EXPECT_EQ((*back)[i].last, b[i].last);
  }
  EXPECT_FALSE(decode_rollups("\x05garbage").ok());
}

// ---------------------------------------------------------------------------------------------
// The store with blocks

using Model = std::map<std::pair<std::string, std::string>, std::map<int64_t, double>>;

class BlockStoreTest : public ::testing::Test {
 protected:
  StoreOptions options() const {
    StoreOptions o;
    o.dir = kDir;
    o.background = false;
    o.clock = &clock_;
    return o;
  }

  std::unique_ptr<TimeSeriesStore> open(StoreOptions o, RecoveryReport* report = nullptr) {
    auto s = TimeSeriesStore::open(fs(), o, {}, report);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  std::unique_ptr<TimeSeriesStore> open() { return open(options()); }

  void write(TimeSeriesStore& store,
             const std::vector<std::tuple<std::string, std::string, int64_t, double>>& readings) {
    ReadingBatch b;
    for (const auto& [d, m, ts, v] : readings) {
      b.add(b.intern_device(d), b.intern_metric(m), ts, v);
      model_[{d, m}][ts] = v;
    }
    ASSERT_TRUE(store.log(b, clock_.now_ms()).ok());
    ASSERT_TRUE(store.commit().ok());
    store.apply(b);
  }

  // Random points over `days` days for 3 devices x 2 metrics, some late and repeated.
  void write_random(TimeSeriesStore& store, int days, int n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<std::tuple<std::string, std::string, int64_t, double>> r;
    for (int i = 0; i < n; ++i) {
      r.emplace_back("dev" + std::to_string(rng() % 3), rng() % 2 ? "temp" : "hum",
                     kT0 + static_cast<int64_t>(rng() % (static_cast<uint64_t>(days) * kDay)),
                     static_cast<double>(static_cast<int64_t>(rng() % 2000) - 1000) / 8);
      if (r.size() == 500) {
        write(store, r);
        r.clear();
      }
    }
    write(store, r);
  }

  void forget_device(const std::string& device) {
    std::erase_if(model_, [&](const auto& kv) { return kv.first.first == device; });
  }

  static std::vector<Sample> all(const TimeSeriesStore& store, const std::string& d,
                                 const std::string& m, int64_t from = kMinTs, int64_t to = kMaxTs) {
    std::vector<Sample> out;
    if (auto id = store.index().find(d, m))
      store.scan(*id, from, to, [&](const Sample& s) { out.push_back(s); });
    return out;
  }

  void expect_model(const TimeSeriesStore& store) {
    size_t series = 0;
    for (const auto& [key, points] : model_) {
      SCOPED_TRACE(key.first + "/" + key.second);
      const auto got = all(store, key.first, key.second);
      ASSERT_EQ(got.size(), points.size());
      size_t i = 0;
      for (const auto& [ts, v] : points) {
        EXPECT_EQ(got[i].ts, ts);
        EXPECT_EQ(got[i].value, v);
        ++i;
      }
      auto latest = store.latest(*store.index().find(key.first, key.second));
      ASSERT_TRUE(latest.has_value());
      EXPECT_EQ(latest->ts, points.rbegin()->first);
      EXPECT_EQ(latest->value, points.rbegin()->second);
      ++series;
    }
    EXPECT_EQ(store.series(), series);
  }

  // Power loss: nothing more is written, and only synced bytes stay.
  void crash(std::unique_ptr<TimeSeriesStore>& store) {
    fs().stop_after(0);
    store.reset();
    fs().crash();
  }

  size_t files_in(const std::string& dir) {
    auto names = fs().list_dir(dir);
    return names.ok() ? names->size() : 0;
  }

  FaultInjectingFileSystem& fs() { return *fs_; }
  std::unique_ptr<FaultInjectingFileSystem> fs_ = std::make_unique<FaultInjectingFileSystem>();
  ManualClock clock_{kT0 + 10 * kDay};
  Model model_;
};

TEST_F(BlockStoreTest, FlushWritesOneBlockPerPartitionAndCutsTheWal) {
  auto store = open();
  write_random(*store, 3, 4000, 1);
  const uint64_t wal_before = store->wal_bytes();
  ASSERT_TRUE(store->flush_now().ok());
  EXPECT_EQ(store->block_stats().blocks, 3u) << "three day partitions";
  EXPECT_EQ(store->block_stats().flushes, 1u);
  (void)store->wal_cut_pending();
  store->maintain();
  EXPECT_LT(store->wal_bytes(), 100u) << "everything is in blocks: only a fresh segment header";
  // More data rolls the WAL into a new segment; the old one, all in blocks, goes.
  write_random(*store, 3, 10, 2);
  (void)store->wal_cut_pending();
  store->maintain();
  EXPECT_LT(store->wal_bytes(), wal_before / 10);
  expect_model(*store);

  crash(store);
  RecoveryReport report;
  store = open(options(), &report);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(report.blocks, 3u);
  EXPECT_LT(report.records, 5u) << "only what came after the checkpoint is replayed";
  expect_model(*store);
}

TEST_F(BlockStoreTest, NewerWritesOverwriteBlockPointsAcrossRestartAndCompaction) {
  auto store = open();
  write(*store, {{"d", "t", kT0 + 1000, 1.0}, {"d", "t", kT0 + 2000, 2.0}});
  ASSERT_TRUE(store->flush_now().ok());
  write(*store, {{"d", "t", kT0 + 1000, 10.0}});  // in the head, over a block point
  expect_model(*store);
  ASSERT_TRUE(store->flush_now().ok());  // now in a second block of the same partition
  EXPECT_EQ(store->block_stats().blocks, 2u);
  expect_model(*store);
  crash(store);
  store = open();
  expect_model(*store);
  ASSERT_TRUE(store->compact_now().ok());
  EXPECT_EQ(store->block_stats().compactions, 1u);
  EXPECT_EQ(store->block_stats().blocks, 3u) << "one raw block plus 1m and 1h rollups";
  expect_model(*store);
  store.reset();
  store = open();
  expect_model(*store);
}

TEST_F(BlockStoreTest, LateDataIntoASealedPartitionIsMergedByTheNextCompaction) {
  auto store = open();
  write_random(*store, 2, 2000, 3);
  ASSERT_TRUE(store->flush_now().ok());
  ASSERT_TRUE(store->compact_now().ok());
  EXPECT_EQ(store->block_stats().blocks, 6u);
  write_random(*store, 2, 300, 4);  // a device uploading what it buffered
  ASSERT_TRUE(store->flush_now().ok());
  EXPECT_EQ(store->block_stats().blocks, 8u);
  expect_model(*store);
  ASSERT_TRUE(store->compact_now().ok());
  EXPECT_EQ(store->block_stats().blocks, 6u);
  expect_model(*store);
  EXPECT_EQ(files_in(std::string(kDir) + "/blocks"), 6u) << "superseded files are deleted";
}

TEST_F(BlockStoreTest, DeletedDeviceStaysDeletedAcrossRestartAndCompaction) {
  auto store = open();
  write(*store, {{"gone", "t", kT0 + 5, 1}, {"kept", "t", kT0 + 5, 2}});
  ASSERT_TRUE(store->flush_now().ok());
  ASSERT_TRUE(store->log_delete_device("gone").ok());
  ASSERT_TRUE(store->commit().ok());
  store->apply_delete_device("gone");
  forget_device("gone");
  EXPECT_EQ(store->index().find("gone", "t"), std::nullopt);
  crash(store);
  store = open();
  expect_model(*store);
  EXPECT_EQ(store->index().find("gone", "t"), std::nullopt);
  // The same id reporting again has only its new data.
  write(*store, {{"gone", "t", kT0 + 9, 3}});
  ASSERT_TRUE(store->flush_now().ok());
  ASSERT_TRUE(store->compact_now().ok());
  expect_model(*store);
  store.reset();
  store = open();
  expect_model(*store);
}

TEST_F(BlockStoreTest, CrashAtAnyPointOfAFlushLosesNothingCommitted) {
  for (uint64_t ops = 0;; ++ops) {
    SCOPED_TRACE("machine stops after " + std::to_string(ops) + " operations");
    fs_ = std::make_unique<FaultInjectingFileSystem>();
    model_.clear();
    auto store = open();
    write_random(*store, 3, 1500, ops);
    fs().stop_after(ops);
    const bool flushed = store->flush_now().ok();
    crash(store);
    RecoveryReport report;
    store = open(options(), &report);
    ASSERT_NE(store, nullptr);
    expect_model(*store);
    if (HasFatalFailure()) return;
    // Blocks of the interrupted flush are kept (the WAL replays the same points over them);
    // the next flush works.
    ASSERT_TRUE(store->flush_now().ok());
    expect_model(*store);
    if (flushed) break;
    ASSERT_LT(ops, 200u);
  }
}

// Buckets computed straight from the model, to compare the store's against.
std::map<int64_t, query::Bucket> expected_buckets(const std::map<int64_t, double>& points,
                                                  int64_t from, int64_t to, int64_t interval) {
  std::map<int64_t, query::Bucket> out;
  for (const auto& [ts, v] : points) {
    if (ts < from || ts > to) continue;
    auto& b = out[query::bucket_start(ts, interval)];
    b.start = query::bucket_start(ts, interval);
    b.add(ts, v);
  }
  return out;
}

TEST_F(BlockStoreTest, RollupAggregatesEqualRawAggregatesAndOutliveRawRetention) {
  auto store = open();
  write_random(*store, 4, 6000, 9);
  ASSERT_TRUE(store->flush_now().ok());
  ASSERT_TRUE(store->compact_now().ok());
  write_random(*store, 1, 50, 10);  // the head holds some points of the first day again
  const auto id = *store->index().find("dev1", "temp");  // ids are per process
  const auto& points = model_.at({"dev1", "temp"});
  auto check = [&](int64_t from, int64_t to, int64_t interval) {
    SCOPED_TRACE("interval " + std::to_string(interval) + " from " + std::to_string(from));
    auto got = query::aggregate_series(*store, id, from, to, interval);
    ASSERT_TRUE(got.ok());
    const auto want = expected_buckets(points, from, to, interval);
    ASSERT_EQ(got->size(), want.size());
    size_t i = 0;
    for (const auto& [start, w] : want) {
      const auto& g = (*got)[i++];
      EXPECT_EQ(g.start, start);
      EXPECT_EQ(g.count, w.count);
      EXPECT_EQ(g.min, w.min);
      EXPECT_EQ(g.max, w.max);
      EXPECT_NEAR(g.sum, w.sum, 1e-9 * (1 + std::abs(w.sum)));
      EXPECT_EQ(g.first, w.first);
      EXPECT_EQ(g.last, w.last);
    }
  };
  for (int64_t interval :
       {int64_t{60'000}, int64_t{300'000}, int64_t{3'600'000}, kDay, int64_t{45'000}}) {
    check(kMinTs, kMaxTs, interval);
    check(kT0 + 1234, kT0 + 3 * kDay - 777, interval);  // unaligned edges read raw points
  }
  // Raw points older than 2 days go; hourly aggregates of those days come from rollups.
  StoreOptions o = options();
  o.retention_raw_ms = 2 * kDay;
  clock_.set(kT0 + 5 * kDay);
  store.reset();
  store = open(o);
  ASSERT_TRUE(store->compact_now().ok());
  EXPECT_TRUE(all(*store, "dev1", "temp", kT0 + kDay, kT0 + 2 * kDay - 1).empty())
      << "the raw points of day 2 expired";
  auto hourly = query::aggregate_series(*store, *store->index().find("dev1", "temp"), kT0 + kDay,
                                        kT0 + 2 * kDay - 1, 3'600'000);
  ASSERT_TRUE(hourly.ok());
  const auto want = expected_buckets(points, kT0 + kDay, kT0 + 2 * kDay - 1, 3'600'000);
  ASSERT_EQ(hourly->size(), want.size());
  uint64_t count = 0, want_count = 0;
  for (const auto& b : *hourly) count += b.count;
  for (const auto& [s, b] : want) want_count += b.count;
  EXPECT_EQ(count, want_count);
  // A late point for that day does not rebuild its rollups from itself alone: it expires.
  write(*store, {{"dev1", "temp", kT0 + kDay + 5, 1e6}});
  ASSERT_TRUE(store->flush_now().ok());
  ASSERT_TRUE(store->compact_now().ok());
  auto again = query::aggregate_series(*store, *store->index().find("dev1", "temp"), kT0 + kDay,
                                       kT0 + 2 * kDay - 1, 3'600'000);
  ASSERT_TRUE(again.ok());
  uint64_t again_count = 0;
  for (const auto& b : *again) again_count += b.count;
  EXPECT_EQ(again_count, want_count);
  for (size_t i = 0; i < hourly->size(); ++i) {
    auto it = want.find((*hourly)[i].start);
    if (it == want.end() || it->second.count != (*hourly)[i].count)
      ADD_FAILURE() << "bucket " << (*hourly)[i].start - kT0 << " got " << (*hourly)[i].count
                    << " want " << (it == want.end() ? 0 : it->second.count);
  }
  EXPECT_EQ(count, want_count);
}

TEST_F(BlockStoreTest, RetentionPerResolutionDropsWholeBlocks) {
  auto store = open();
  write_random(*store, 3, 3000, 11);
  ASSERT_TRUE(store->flush_now().ok());
  ASSERT_TRUE(store->compact_now().ok());
  EXPECT_EQ(store->block_stats().blocks, 9u);
  StoreOptions o = options();
  o.retention_raw_ms = kDay;
  o.retention_minute_ms = 2 * kDay;
  clock_.set(kT0 + 3 * kDay + kDay / 2);  // day 1 ended 2.5 days ago, day 3 half a day ago
  store.reset();
  store = open(o);
  ASSERT_TRUE(store->compact_now().ok());
  // Raw: only day 3. 1m: days 2 and 3. 1h: all three.
  EXPECT_EQ(store->block_stats().blocks, 1u + 2u + 3u);
}

// ---------------------------------------------------------------------------------------------
// Recovery never deletes what it cannot read

std::vector<std::string> names_in(FaultInjectingFileSystem& fs, const std::string& dir) {
  auto names = fs.list_dir(dir);
  std::vector<std::string> out = names.ok() ? *names : std::vector<std::string>{};
  std::sort(out.begin(), out.end());
  return out;
}

TEST_F(BlockStoreTest, DeletedCheckpointIsRebuiltFromTheBlocksAndNoBlockIsDeleted) {
  auto store = open();
  write_random(*store, 3, 3000, 21);
  ASSERT_TRUE(store->flush_now().ok());
  write_random(*store, 3, 3000, 22);
  ASSERT_TRUE(store->flush_now().ok());  // two flushes: seq 2, the WAL cut behind them
  write_random(*store, 3, 200, 23);      // and some more only in the WAL
  store.reset();
  const auto blocks = names_in(fs(), std::string(kDir) + "/blocks");
  ASSERT_TRUE(fs().remove_file(std::string(kDir) + "/CHECKPOINT").ok());

  RecoveryReport report;
  store = open(options(), &report);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(names_in(fs(), std::string(kDir) + "/blocks"), blocks) << "no block deleted";
  EXPECT_EQ(report.blocks_removed, 0u);
  expect_model(*store);
  EXPECT_TRUE(fs().exists(std::string(kDir) + "/CHECKPOINT")) << "rebuilt";
  ASSERT_EQ(report.damage.size(), 1u);
  EXPECT_NE(report.damage[0].find("CHECKPOINT missing"), std::string::npos) << report.damage[0];
  EXPECT_TRUE(store->health().degraded);
  EXPECT_EQ(store->missing_data("dev0", "temp", kMinTs, kMaxTs), "") << "nothing was lost";

  // Sound from now on: restarts and flushes keep everything, the report stays until acknowledged.
  crash(store);
  store = open();
  expect_model(*store);
  ASSERT_TRUE(store->flush_now().ok());
  EXPECT_EQ(*store->acknowledge_damage(), 1u);
  EXPECT_FALSE(store->health().degraded);
  store.reset();
  store = open();
  expect_model(*store);
  EXPECT_FALSE(store->health().degraded) << "the acknowledgement is on disk";
}

TEST_F(BlockStoreTest, DamagedCheckpointIsQuarantinedAndRebuilt) {
  auto store = open();
  write_random(*store, 2, 2000, 24);
  ASSERT_TRUE(store->flush_now().ok());
  store.reset();
  ASSERT_TRUE(fs().flip_bit(std::string(kDir) + "/CHECKPOINT", 3, 0).ok());
  RecoveryReport report;
  store = open(options(), &report);
  ASSERT_NE(store, nullptr);
  expect_model(*store);
  EXPECT_TRUE(fs().exists(std::string(kDir) + "/quarantine/CHECKPOINT"));
  EXPECT_TRUE(store->health().degraded);
}

// Where the first entry of a block lies (a block::Entry is valid only with its reader).
struct EntryAt {
  std::string device, metric;
  uint64_t offset = 0;
  uint32_t stored_len = 0;
};

// The first entry of the block of day `day`, and the block's path.
std::pair<EntryAt, std::string> first_entry_of_day(FaultInjectingFileSystem& fs, int day) {
  for (const auto& name : names_in(fs, std::string(kDir) + "/blocks")) {
    const std::string path = std::string(kDir) + "/blocks/" + name;
    auto r = block::BlockReader::open(fs, path);
    if (r.ok() && (*r)->meta().partition_start == kT0 + day * kDay) {
      const block::Entry& e = (*r)->entries().at(0);
      return {EntryAt{std::string(e.device), std::string(e.metric), e.offset, e.stored_len}, path};
    }
  }
  ADD_FAILURE() << "no block of day " << day;
  return {};
}

TEST_F(BlockStoreTest, FlippedChunkIsResealedQuarantinedAndItsReadsSayPartial) {
  auto store = open();
  write_random(*store, 3, 3000, 31);
  ASSERT_TRUE(store->flush_now().ok());
  store.reset();
  auto [entry, path] = first_entry_of_day(fs(), 1);
  ASSERT_TRUE(fs().flip_bit(path, entry.offset + entry.stored_len / 2, 4).ok());
  // What is lost: that series' points of that day, nothing else.
  auto& series = model_[{entry.device, entry.metric}];
  std::erase_if(series,
                [](const auto& p) { return p.first >= kT0 + kDay && p.first < kT0 + 2 * kDay; });

  RecoveryReport report;
  store = open(options(), &report);
  ASSERT_NE(store, nullptr);
  expect_model(*store);
  const std::string name = path.substr(path.rfind('/') + 1);
  EXPECT_FALSE(fs().exists(path));
  EXPECT_TRUE(fs().exists(std::string(kDir) + "/quarantine/" + name)) << "moved, not deleted";
  EXPECT_EQ(report.blocks_quarantined, 1u);
  EXPECT_EQ(store->block_stats().damaged, 1u);
  EXPECT_NE(store->missing_data(entry.device, entry.metric, kT0 + kDay, kT0 + 2 * kDay - 1), "");
  EXPECT_EQ(store->missing_data(entry.device, entry.metric, kT0, kT0 + kDay - 1), "");
  EXPECT_EQ(store->missing_data("nobody", entry.metric, kMinTs, kMaxTs), "");
  EXPECT_EQ(store->health().quarantined_files, 1u);

  // A restart finds a whole store (the re-sealed block), and the same report.
  store.reset();
  report = {};
  store = open(options(), &report);
  expect_model(*store);
  EXPECT_EQ(report.blocks_quarantined, 0u);
  EXPECT_NE(store->missing_data(entry.device, entry.metric, kT0 + kDay, kT0 + 2 * kDay - 1), "");
  ASSERT_TRUE(store->acknowledge_damage().ok());
  EXPECT_EQ(store->missing_data(entry.device, entry.metric, kT0 + kDay, kT0 + 2 * kDay - 1), "");
  EXPECT_TRUE(fs().exists(std::string(kDir) + "/quarantine/" + name)) << "kept after the ack";
}

TEST_F(BlockStoreTest, TornBlockKeepsEverySeriesBeforeTheCutAndItsDaySaysItMayBeShort) {
  auto store = open();
  write_random(*store, 3, 3000, 41);
  ASSERT_TRUE(store->flush_now().ok());
  store.reset();
  auto [entry, path] = first_entry_of_day(fs(), 2);
  const uint64_t size = *fs().file_size(path);
  // The series whose payload lies wholly before the cut are still on disk and stay readable.
  std::set<std::pair<std::string, std::string>> readable;
  {
    auto r = block::BlockReader::open(fs(), path);
    ASSERT_TRUE(r.ok());
    for (const auto& e : (*r)->entries())
      if (e.offset + e.stored_len <= size / 2) readable.emplace(e.device, e.metric);
  }
  ASSERT_FALSE(readable.empty());
  ASSERT_TRUE(fs().truncate(path, size / 2).ok());
  for (auto& [key, points] : model_)
    if (!readable.count(key))
      std::erase_if(points, [](const auto& p) { return p.first >= kT0 + 2 * kDay; });
  std::erase_if(model_, [](const auto& kv) { return kv.second.empty(); });

  store = open();
  ASSERT_NE(store, nullptr);
  expect_model(*store);
  EXPECT_TRUE(fs().exists(std::string(kDir) + "/quarantine/" + path.substr(path.rfind('/') + 1)));
  // What was after the cut is unknown: every series' reads of that day may be short.
  EXPECT_NE(store->missing_data("dev0", "temp", kT0 + 2 * kDay, kT0 + 2 * kDay + 1), "");
  EXPECT_EQ(store->missing_data("dev0", "temp", kT0, kT0 + 1), "") << "the header names its day";
}

TEST_F(BlockStoreTest, CrashAtAnyPointWhileResealingADamagedBlockLosesNothingReadable) {
  for (uint64_t ops = 0;; ++ops) {
    SCOPED_TRACE("machine stops after " + std::to_string(ops) + " operations");
    fs_ = std::make_unique<FaultInjectingFileSystem>();
    model_.clear();
    auto store = open();
    write_random(*store, 2, 1000, 51);
    ASSERT_TRUE(store->flush_now().ok());
    store.reset();
    auto [entry, path] = first_entry_of_day(fs(), 0);
    ASSERT_TRUE(fs().flip_bit(path, entry.offset + entry.stored_len / 2, 1).ok());
    auto& series = model_[{entry.device, entry.metric}];
    std::erase_if(series, [](const auto& p) { return p.first < kT0 + kDay; });
    const std::string name = path.substr(path.rfind('/') + 1);

    fs().stop_after(ops);
    auto interrupted = TimeSeriesStore::open(fs(), options(), {}, nullptr);
    const bool done = interrupted.ok();
    interrupted = Status::Unavailable("closed");
    fs().crash();
    store = open();
    ASSERT_NE(store, nullptr);
    expect_model(*store);
    EXPECT_TRUE(fs().exists(path) || fs().exists(std::string(kDir) + "/quarantine/" + name))
        << "the damaged block is never deleted";
    EXPECT_NE(store->missing_data(entry.device, entry.metric, kT0, kT0 + kDay - 1), "");
    if (HasFailure() || done) return;
    ASSERT_LT(ops, 200u);
  }
}

}  // namespace
}  // namespace fp::tsdb
