// WAL micro benchmarks on the real file system, in a fresh directory under TMPDIR (or /tmp):
// point TMPDIR at the disk you want to measure.
//
//   BM_WalAppendCommit/<record bytes>/<policy: 0 always, 2 none>/<records per commit>
//     append + commit throughput: one iteration is one commit of a group of records, as the
//     commit thread does it; "always" fsyncs every commit. 64 MiB segments, old segments
//     dropped with truncate_before as a checkpoint would.
//   BM_WalRecover/<MiB>   recover_wal over a WAL of 1 KiB records, replay into a no-op.
//   BM_Crc32c/<0 software, 1 hardware>/<bytes>
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "storage/fs/posix_file_system.h"
#include "storage/wal/crc32c.h"
#include "storage/wal/wal_recovery.h"
#include "storage/wal/wal_writer.h"

namespace fp {
namespace {

// A directory removed on scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "fp_wal_bench_XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void BM_WalAppendCommit(benchmark::State& state) {
  const auto record_bytes = static_cast<size_t>(state.range(0));
  const auto policy = static_cast<FsyncPolicy>(state.range(1));
  const auto group = static_cast<int>(state.range(2));
  TempDir dir;
  WalOptions o;
  o.dir = dir.path();
  o.fsync = policy;
  auto w = WalWriter::open(PosixFileSystem::instance(), o, 1);
  if (!w.ok()) {
    state.SkipWithError(w.status().message().c_str());
    return;
  }
  WalWriter& wal = **w;
  const std::string payload(record_bytes, 'x');
  for (auto _ : state) {
    for (int i = 0; i < group; ++i) benchmark::DoNotOptimize(wal.append(payload));
    Status s = wal.commit();
    if (!s.ok()) {
      state.SkipWithError(s.message().c_str());
      break;
    }
    if (wal.stats().segments > 3) (void)wal.truncate_before(wal.next_lsn());
  }
  const int64_t records = state.iterations() * group;
  state.SetItemsProcessed(records);
  state.SetBytesProcessed(records * static_cast<int64_t>(record_bytes));
  state.counters["fsyncs"] = static_cast<double>(wal.stats().fsyncs);
}
BENCHMARK(BM_WalAppendCommit)
    ->ArgNames({"bytes", "policy", "group"})
    ->ArgsProduct({{1024, 64 * 1024}, {static_cast<int>(FsyncPolicy::kNone)}, {1, 64}})
    ->ArgsProduct({{1024, 64 * 1024}, {static_cast<int>(FsyncPolicy::kAlways)}, {1, 64}})
    ->UseRealTime();

void BM_WalRecover(benchmark::State& state) {
  const uint64_t total = static_cast<uint64_t>(state.range(0)) << 20;
  TempDir dir;
  WalOptions o;
  o.dir = dir.path();
  o.fsync = FsyncPolicy::kNone;
  {
    auto w = WalWriter::open(PosixFileSystem::instance(), o, 1);
    if (!w.ok()) {
      state.SkipWithError(w.status().message().c_str());
      return;
    }
    // range(1): bytes per record (1 KiB: small requests; 768 KiB: a 5,000-line batch of 7
    // fields, the size run_recovery.sh's WAL holds).
    const std::string payload(static_cast<size_t>(state.range(1)), 'r');
    const int per_commit = std::max<int>(1, static_cast<int>((256 << 10) / payload.size()));
    while ((*w)->stats().bytes < total) {
      for (int i = 0; i < per_commit; ++i) (void)(*w)->append(payload);
      (void)(*w)->commit();
    }
    (void)(*w)->close();
  }
  uint64_t records = 0;
  for (auto _ : state) {
    auto r =
        recover_wal(PosixFileSystem::instance(), dir.path(), 1, [](uint64_t, std::string_view p) {
          benchmark::DoNotOptimize(p.data());
          return Status::Ok();
        });
    if (!r.ok()) {
      state.SkipWithError(r.status().message().c_str());
      break;
    }
    records = r->records_replayed;
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(total));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(records));
}
BENCHMARK(BM_WalRecover)
    ->ArgNames({"MiB", "record"})
    ->Args({256, 1024})
    ->Args({256, 768 << 10})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_Crc32c(benchmark::State& state) {
  const bool hardware = state.range(0) != 0;
  if (hardware && !crc32c_internal::hardware_available()) {
    state.SkipWithError("no SSE4.2");
    return;
  }
  const std::string data(static_cast<size_t>(state.range(1)), 'c');
  for (auto _ : state) {
    uint32_t crc = hardware ? crc32c_internal::extend_hardware(0, data.data(), data.size())
                            : crc32c_internal::extend_software(0, data.data(), data.size());
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(data.size()));
}
BENCHMARK(BM_Crc32c)->ArgNames({"hw", "bytes"})->ArgsProduct({{0, 1}, {64, 4096, 65536}});

}  // namespace
}  // namespace fp
