// Block files do not stay in the process' memory: a block is a read-only file mapping, and
// the pages that verifying its checksums (at open, at start, in compaction) or reading it
// faults in are dropped from the process' resident set afterwards (the page cache keeps them),
// so the blocks written during a long ingest do not add up in the peak RSS. Measured on the
// real file system through /proc/self/smaps.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "storage/fs/posix_file_system.h"
#include "storage/tsdb/time_series_store.h"
#include "util/clock.h"

namespace fp::tsdb {
namespace {

constexpr int64_t kDay = 86'400'000;
constexpr int64_t kT0 = 1'767'225'600'000;  // 2026-01-01T00:00:00Z, a partition start

// Resident kB of every mapping of this process whose file path contains `part`.
uint64_t resident_kb_of(const std::string& part) {
  std::ifstream in("/proc/self/smaps");
  std::string line;
  bool inside = false;
  uint64_t kb = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    // A mapping's first line starts with its address (lowercase hex); its fields with a name.
    if (std::isdigit(static_cast<unsigned char>(line[0])) || (line[0] >= 'a' && line[0] <= 'f')) {
      inside = line.find(part) != std::string::npos;
    } else if (inside && line.starts_with("Rss:")) {
      kb += std::stoull(line.substr(4));
    }
  }
  return kb;
}

class TempDir {
 public:
  TempDir() {
    std::string t = std::filesystem::temp_directory_path() / "fp-block-memory-XXXXXX";
    path_ = ::mkdtemp(t.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(MappedFileTest, ReleasedPagesLeaveTheResidentSetAndTheBytesStayReadable) {
  TempDir dir;
  const std::string path = dir.path() + "/data.bin";
  std::string bytes(4u << 20, '\0');
  std::mt19937_64 rng(1);
  for (char& c : bytes) c = static_cast<char>(rng());
  {
    auto w = PosixFileSystem::instance().open_writable(path, false);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->append(bytes).ok());
    ASSERT_TRUE((*w)->sync().ok());
  }
  auto file = PosixFileSystem::instance().map_file(path);
  ASSERT_TRUE(file.ok()) << file.status().message();
  ASSERT_EQ((*file)->bytes(), bytes);  // reads every page
  EXPECT_GT(resident_kb_of(path), 3500u) << "the measurement sees the mapping's pages";
  (*file)->release_resident();
  EXPECT_LT(resident_kb_of(path), 64u);
  EXPECT_EQ((*file)->bytes(), bytes) << "released pages are read again from the file";
}

TEST(BlockMemoryTest, FlushCompactionAndRestartLeaveNoBlockPagesResident) {
  TempDir dir;
  ManualClock clock{kT0 + 10 * kDay};
  StoreOptions o;
  o.dir = dir.path() + "/tsdb";
  o.background = false;
  o.clock = &clock;
  const std::string blocks = o.dir + "/blocks";
  auto open = [&] {
    auto s = TimeSeriesStore::open(PosixFileSystem::instance(), o, {}, nullptr);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(s).value() : nullptr;
  };
  auto store = open();
  ASSERT_NE(store, nullptr);
  // 2,000 series of random doubles (~8 bytes a point once coded): ~2 MB of block per flush.
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> value(-1e6, 1e6);
  for (int flush = 0; flush < 3; ++flush) {
    for (int part = 0; part < 4; ++part) {
      ReadingBatch b;
      for (int d = 0; d < 500; ++d) {
        const uint32_t device = b.intern_device("device-" + std::to_string(d));
        for (int m = 0; m < 4; ++m) {
          const uint32_t metric = b.intern_metric("metric-" + std::to_string(m));
          for (int i = 0; i < 32; ++i)
            b.add(device, metric, kT0 + (flush * 128 + part * 32 + i) * 1000, value(rng));
        }
      }
      ASSERT_TRUE(store->log(b, clock.now_ms()).ok());
      ASSERT_TRUE(store->commit().ok());
      store->apply(b);
    }
    ASSERT_TRUE(store->flush_now().ok());
  }
  ASSERT_EQ(store->block_stats().blocks, 3u);
  uint64_t block_bytes = 0;
  for (const auto& e : std::filesystem::directory_iterator(blocks)) block_bytes += e.file_size();
  ASSERT_GT(block_bytes, 4u << 20) << "big enough that resident pages would show";
  const uint64_t limit_kb = block_bytes / 1024 / 16;
  EXPECT_LT(resident_kb_of(blocks), limit_kb) << "after the flushes (" << block_bytes << " B)";

  ASSERT_TRUE(store->compact_now().ok());
  ASSERT_EQ(store->block_stats().compactions, 1u);
  EXPECT_LT(resident_kb_of(blocks), limit_kb) << "after the compaction";

  store.reset();
  store = open();  // verifies every checksum of every block
  ASSERT_NE(store, nullptr);
  EXPECT_LT(resident_kb_of(blocks), limit_kb) << "after a restart";
  // Everything is still read back.
  auto id = store->index().find("device-499", "metric-3");
  ASSERT_TRUE(id.has_value());
  size_t points = 0;
  store->scan(*id, INT64_MIN, INT64_MAX, [&](const Sample&) { ++points; });
  EXPECT_EQ(points, 3u * 128u);
}

}  // namespace
}  // namespace fp::tsdb
