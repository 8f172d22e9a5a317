#pragma once
// TimeSeriesStore: fleetpulse's telemetry storage. Every change is first a WAL record; a
// record is applied to the in-memory head only after the WAL made it durable, and the whole
// head is rebuilt from the WAL on start.
//
// The commit thread calls log() for each batch, then commit() once (group commit: one fsync
// for many requests), then apply(). Readers (queries) may run on any thread at any time.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "model/reading_batch.h"
#include "storage/fs/file_system.h"
#include "storage/tsdb/head.h"
#include "storage/tsdb/series_index.h"
#include "storage/wal/wal_writer.h"
#include "util/result.h"

namespace fp::tsdb {

struct StoreOptions {
  std::string dir;  // the store's own directory, e.g. <data-dir>/tsdb
  FsyncPolicy fsync = FsyncPolicy::kAlways;
  uint64_t max_head_points = 100'000'000;  // beyond this, writes are refused (back-pressure)
};

struct RecoveryReport {
  uint64_t records = 0;
  uint64_t points = 0;
  uint64_t truncated_bytes = 0;  // cut from a torn or corrupt WAL tail
  std::string truncation;        // what was cut and why, empty when nothing
  int64_t millis = 0;
};

// Called for every replayed batch so other state (device last-seen) can be rebuilt.
using ReplayListener = std::function<void(const ReadingBatch& batch, int64_t received_ms)>;
// Called for every replayed device removal (nullopt: all devices), so that state rebuilt
// from earlier batches forgets the device again.
using ReplayRemovalListener = std::function<void(const std::optional<std::string>& device)>;

class TimeSeriesStore {
 public:
  // Opens the store in `options.dir`, replaying its WAL. `fs` must outlive the store.
  static Result<std::unique_ptr<TimeSeriesStore>> open(
      FileSystem& fs, StoreOptions options, const ReplayListener& on_replay, RecoveryReport* report,
      const ReplayRemovalListener& on_removal = {});
  ~TimeSeriesStore();

  // Commit thread only. log() appends the batch to the WAL (not yet durable).
  Status log(const ReadingBatch& batch, int64_t received_ms);
  // Commit thread only. Logs the removal of a device's data / of all data.
  Status log_delete_device(const std::string& device);
  // Logs that a device was removed but its data kept, so replay does not register it again.
  Status log_forget_device(const std::string& device);
  Status log_delete_all();
  // Commit thread only. Makes everything logged durable (per the fsync policy).
  Status commit();
  // Commit thread only, when idle: under the interval policy, fsyncs what is due.
  Status sync_if_due() { return wal_->sync_if_due(); }
  // Commit thread only, after commit(): makes the batch visible to readers.
  void apply(const ReadingBatch& batch);
  void apply_delete_device(const std::string& device);
  void apply_delete_all();

  // True when the head is over its budget and writes should be refused for now.
  bool over_budget() const { return head_.points() >= options_.max_head_points; }

  // Readers, any thread.
  const SeriesIndex& index() const { return index_; }
  std::optional<Sample> latest(SeriesId id) const { return head_.latest(id); }
  template <typename Fn>
  void scan(SeriesId id, int64_t start, int64_t end, Fn&& fn) const {
    head_.scan(id, start, end, std::forward<Fn>(fn));
  }
  uint64_t points() const { return head_.points(); }
  uint64_t series() const { return index_.size(); }
  uint64_t wal_bytes() const;
  WalStats wal_stats() const;

 private:
  TimeSeriesStore(FileSystem& fs, StoreOptions options);
  void apply_record(std::string_view payload, const ReplayListener* on_replay,
                    const ReplayRemovalListener* on_removal, RecoveryReport* report);

  const StoreOptions options_;
  SeriesIndex index_;
  Head head_;
  std::unique_ptr<WalWriter> wal_;
  std::string scratch_;  // commit thread only
};

}  // namespace fp::tsdb
