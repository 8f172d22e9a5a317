#pragma once
// TimeSeriesStore: fleetpulse's telemetry storage engine.
//
// Write path: every change is first a WAL record; a record is applied to the in-memory head
// only after the WAL made it durable. The commit thread calls log() for each batch, then
// commit() once (group commit: one fsync for many requests), then apply().
//
// Sealing: when the head holds flush_points points or its data is flush_interval_ms old, the
// commit thread (in maintain()) freezes it — the points move, as they are, to a read-only
// frozen layer, tagged with the WAL position — and a background thread writes them into
// immutable raw block files, one per time partition touched, then records a CHECKPOINT; the
// commit thread then removes the WAL segments the checkpoint covers. Sealed partitions (whose
// end lies seal_after_ms in the past) are compacted into one raw block plus 1-minute and
// 1-hour rollup blocks; retention drops whole blocks per resolution. On start, blocks are
// loaded and verified (every chunk checksum) and the WAL is replayed from the checkpoint.
// Device deletions are tombstones that hide older blocks until compaction.
//
// Recovery never deletes what it cannot read (docs/formats/block.md, wal.md): a missing or
// damaged CHECKPOINT is rebuilt from the blocks (the WAL is then replayed from its start, which
// is idempotent); blocks of an interrupted flush are kept (the WAL replays the same points over
// them); a compaction input is deleted only when a fully verified output names it; a damaged
// block is re-sealed from its readable entries and moved to `quarantine/`; damaged WAL records
// are skipped and their segment copied to `quarantine/`. What was lost is noted there
// (Quarantine) until an operator acknowledges it, and reads it may concern say so
// (missing_data()).
//
// Reads merge blocks, the frozen layer and the head, the newest source winning on equal
// timestamps (so rewriting a point overwrites it). Readers may run on any thread.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>

#include "model/reading_batch.h"
#include "storage/block/block_salvage.h"
#include "storage/fs/file_system.h"
#include "storage/tsdb/block_set.h"
#include "storage/tsdb/head.h"
#include "storage/tsdb/quarantine.h"
#include "storage/tsdb/rollup.h"
#include "storage/tsdb/series_index.h"
#include "storage/tsdb/store_files.h"
#include "storage/wal/wal_writer.h"
#include "util/clock.h"
#include "util/result.h"

namespace fp::tsdb {

class ReplayApplier;

struct StoreOptions {
  std::string dir;  // the store's own directory, e.g. <data-dir>/tsdb
  FsyncPolicy fsync = FsyncPolicy::kAlways;
  uint64_t max_head_points = 100'000'000;   // head + frozen; beyond, writes are refused
  uint64_t flush_points = 4'000'000;        // freeze the head once it holds this many
  int64_t flush_interval_ms = 10 * 60'000;  // ... or once its first point is this old
  int64_t partition_ms = 24 * 3'600'000;    // time span of a partition (UTC-aligned)
  int64_t seal_after_ms = 3'600'000;        // compact a partition this long after its end
  int64_t retention_raw_ms = 0;             // 0: keep forever
  int64_t retention_minute_ms = 0;
  int64_t retention_hour_ms = 0;
  bool background = true;        // run the block thread; tests drive flush_now()/compact_now()
  const Clock* clock = nullptr;  // SystemClock when null
};

struct RecoveryReport {
  uint64_t records = 0;
  uint64_t points = 0;
  uint64_t truncated_bytes = 0;  // cut from a torn WAL tail (normal after a crash)
  std::string truncation;        // what was cut and why, empty when nothing
  uint64_t blocks = 0;           // block files loaded
  uint64_t blocks_removed = 0;   // unfinished .tmp writes and verified-superseded blocks deleted
  std::string block_errors;      // damaged blocks (re-sealed / moved to quarantine)
  uint64_t blocks_quarantined = 0;
  uint64_t wal_records_skipped = 0;  // damaged WAL records after the checkpoint, skipped
  std::vector<std::string> damage;   // one line per thing found damaged, for the log
  int64_t millis = 0;
};

struct BlockStats {
  uint64_t blocks = 0;
  uint64_t bytes = 0;
  uint64_t raw_points = 0;  // points in raw blocks (before compaction, overwritten ones too)
  uint64_t flushes = 0;
  uint64_t compactions = 0;
  uint64_t errors = 0;       // failed block writes (retried)
  uint64_t damaged = 0;      // damaged blocks found at start (quarantined)
  uint64_t read_errors = 0;  // chunk reads that failed their checksum while serving
};

// What the store knows is wrong with it now, for detailed health.
struct StorageHealth {
  bool degraded = false;
  std::string reason;  // why, when degraded
  size_t damage_unacknowledged = 0;
  size_t quarantined_files = 0;
  std::vector<DamageNote> damage;  // every note, acknowledged or not
  uint64_t wal_records_skipped = 0;
};

// Called for every replayed batch so other state (device last-seen) can be rebuilt.
using ReplayListener = std::function<void(const ReadingBatch& batch, int64_t received_ms)>;
// Called for every replayed device removal (nullopt: all devices), so that state rebuilt
// from earlier batches forgets the device again.
using ReplayRemovalListener = std::function<void(const std::optional<std::string>& device)>;
// Called once per device after the replay, with the newest receive time of its replayed
// batches since its last removal: what a ReplayListener that only tracks last-seen times
// would compute, without a call (and a ReadingBatch) per record.
using ReplaySeenListener = std::function<void(std::string_view device, int64_t received_ms)>;

class TimeSeriesStore {
 public:
  // Opens the store in `options.dir`: loads blocks, replays the WAL. `fs` must outlive it.
  // `on_replay` (slower: a ReadingBatch per record) and `on_removal` run during the replay,
  // `on_seen` after it.
  static Result<std::unique_ptr<TimeSeriesStore>> open(FileSystem& fs, StoreOptions options,
                                                       const ReplayListener& on_replay,
                                                       RecoveryReport* report,
                                                       const ReplayRemovalListener& on_removal = {},
                                                       const ReplaySeenListener& on_seen = {});
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
  // Commit thread only, after commit(): makes the batch visible to readers.
  void apply(const ReadingBatch& batch);
  // Any thread: the series id of each point of `batch` (kNoSeries where the series does not
  // exist yet), looked up without creating anything, so that the commit thread need not. Read
  // removal_generation() before: the ids hold while it has not changed.
  std::vector<SeriesId> find_series(const ReadingBatch& batch) const;
  // Bumped after every removal of series from the index (device deletions).
  uint64_t removal_generation() const {
    return removal_generation_.load(std::memory_order_acquire);
  }
  // As apply(batch), with `ids` from find_series() under the current removal_generation():
  // only the points whose series did not exist then are resolved here.
  void apply(const ReadingBatch& batch, std::span<const SeriesId> ids);
  void apply_delete_device(const std::string& device);
  void apply_delete_all();
  // Commit thread only, between commits: interval fsyncs, WAL truncation after a checkpoint,
  // and freezing the head when it is due.
  void maintain();
  // Commit thread: fixes the checkpoint the next maintain() may cut the WAL to, and tells
  // whether it is newer than the last one (then state rebuilt from the WAL, like last-seen
  // times, must be saved before that maintain()).
  bool wal_cut_pending() {
    cut_to_lsn_ = checkpoint_lsn_.load();
    return cut_to_lsn_ != maintained_checkpoint_lsn_;
  }
  // Commit thread: the state wal_cut_pending() asked to save could not be saved, so the next
  // maintain() keeps the WAL it would rebuild it from (wal_cut_pending() stays true).
  void hold_wal_cut() { cut_to_lsn_ = maintained_checkpoint_lsn_; }

  // Commit thread only: seal everything in memory into blocks; `done` runs on the block
  // thread once they and the checkpoint are durable (at once when there is nothing to seal).
  void request_flush(std::function<void(Status)> done);

  // Shutdown, once the commit thread has stopped: lets the block thread finish what it is
  // writing, joins it and answers the flushes still waiting ("the store is closing"), so that
  // no flush callback outlives what its caller destroys next. Reads keep working; nothing is
  // sealed afterwards (the WAL replays it). The destructor does the same if it was not called.
  void stop_block_thread();

  // Test hooks (background = false): freeze and write blocks now; compact sealed partitions
  // and apply retention now. Call from the thread that commits.
  Status flush_now();
  Status compact_now();

  // True when the head is over its budget and writes should be refused for now.
  bool over_budget() const {
    return head_.points() + frozen_points_.load(std::memory_order_relaxed) >=
           options_.max_head_points;
  }

  // Readers, any thread.
  const SeriesIndex& index() const { return index_; }
  std::optional<Sample> latest(SeriesId id) const { return head_.latest(id); }
  // Calls fn(sample) for the points of `id` in [start, end], ascending, one per timestamp.
  template <typename Fn>
  void scan(SeriesId id, int64_t start, int64_t end, Fn&& fn) const;
  // For aggregates of width `width_ms` (a multiple of 1 min or 1 h uses rollups where whole
  // buckets are covered by a compacted partition): ascending calls of on_sample(sample) for
  // raw points and on_bucket(bucket) for rollup buckets, never both for the same time.
  void scan_for_aggregate(SeriesId id, int64_t start, int64_t end, int64_t width_ms,
                          const std::function<void(const Sample&)>& on_sample,
                          const std::function<void(const RollupBucket&)>& on_bucket) const;
  // The first and last timestamps `id` has anywhere (nullopt: no points).
  std::optional<std::pair<int64_t, int64_t>> time_span(SeriesId id) const;
  uint64_t points() const;  // head + frozen + raw blocks (an upper bound after overwrites)
  uint64_t series() const { return index_.size(); }
  uint64_t wal_bytes() const;
  WalStats wal_stats() const;
  BlockStats block_stats() const;

  // Why readings of (device, metric) in [start, end] may be missing from an answer: damage not
  // yet acknowledged that may concern them, and chunks that failed their checksum while being
  // read. Empty when nothing is known to be missing; then (the usual case) it answers from two
  // lock-free flags, so readers of many series may ask it per series. Any thread.
  std::string missing_data(std::string_view device, std::string_view metric, int64_t start,
                           int64_t end) const;
  // Damage, quarantine and failed writes, for detailed health. Any thread.
  StorageHealth health() const;
  // An operator saw the damage: it no longer degrades health or marks answers partial.
  // Returns how many notes were acknowledged. Any thread.
  Result<size_t> acknowledge_damage();

 private:
  struct Frozen {
    uint64_t seq = 0;
    uint64_t lsn = 0;  // every WAL record before this is in the frozen points or earlier
    std::vector<std::unique_ptr<SeriesPoints>> series;  // by SeriesId; null: no points
    // The points of `id`, or null.
    const SeriesPoints* of(SeriesId id) const {
      return id < series.size() ? series[id].get() : nullptr;
    }
    uint64_t points = 0;
  };

  TimeSeriesStore(FileSystem& fs, StoreOptions options);
  // Loads every block; returns the highest block seq found (0: none).
  Result<uint64_t> load_blocks(RecoveryReport& report);
  // A damaged block: re-seals its readable entries into a new block (unless `superseded`)
  // and moves it to quarantine with a note of what is lost. The new block, if any, is added
  // to `out`.
  Status quarantine_block(
      const std::string& path, const block::BlockSalvage& s, bool superseded,
      std::vector<std::pair<std::unique_ptr<block::BlockReader>, std::string>>& out,
      RecoveryReport& rep);
  void note_read_failure(const LoadedBlock& b, const block::Entry& e, const Status& s) const;
  // Needs state_mu_ (exclusive): sorts blocks_ and recomputes the block statistics.
  void publish_locked();
  void apply_record(std::string_view payload, ReplayApplier& applier,
                    const ReplayListener* on_replay, const ReplayRemovalListener* on_removal,
                    RecoveryReport* report);
  void freeze();
  void save_tombstones(const Tombstones& t);  // commit thread
  Status write_frozen();                      // block thread
  Status compact_and_expire();                // block thread
  void block_thread();
  using WrittenBlock = std::pair<std::unique_ptr<block::BlockReader>, std::string>;  // + path
  // Swaps the blocks `ids` for `added` in one publish, then deletes the removed files.
  Status replace_blocks(const std::vector<uint64_t>& ids, std::vector<WrittenBlock> added);
  // Needs state_mu_ (shared). Every point of `id` in [start, end], merged.
  std::vector<Sample> collect(SeriesId id, int64_t start, int64_t end) const;
  bool only_in_head(SeriesId id, int64_t start, int64_t end) const;
  std::string blocks_dir() const;
  uint64_t next_block_id() { return next_block_id_.fetch_add(1); }

  FileSystem& fs_;
  const StoreOptions options_;
  const Clock& clock_;
  Quarantine quarantine_;
  SeriesIndex index_;
  Head head_;
  std::unique_ptr<WalWriter> wal_;
  std::string scratch_;  // commit thread only

  // Frozen layer and block list: replaced whole under state_mu_; readers hold it shared
  // across their whole read so a freeze or a publish never shows them a gap or a double.
  mutable std::shared_mutex state_mu_;
  std::shared_ptr<const Frozen> frozen_;  // state_mu_
  BlockList blocks_;                      // state_mu_
  Tombstones tombstones_;                 // state_mu_
  std::atomic<uint64_t> frozen_points_{0};
  std::atomic<uint64_t> removal_generation_{0};  // written by the commit thread

  uint64_t next_seq_ = 1;      // commit thread (tombstones, freeze)
  int64_t head_first_ms_ = 0;  // commit thread: clock time of the head's first point
  std::atomic<uint64_t> next_block_id_{1};
  std::atomic<uint64_t> checkpoint_lsn_{0};  // set by the block thread, WAL cut by maintain()
  uint64_t rolled_at_lsn_ = 0;               // commit thread
  uint64_t maintained_checkpoint_lsn_ = 0;   // commit thread
  uint64_t cut_to_lsn_ = 0;                  // commit thread: set by wal_cut_pending()
  bool tombstones_unsaved_ = false;          // commit thread: TOMBSTONES write failed

  std::mutex thread_mu_;
  std::condition_variable thread_cv_;
  bool stop_ = false;                                        // thread_mu_
  bool flush_wanted_ = false;                                // thread_mu_
  std::vector<std::function<void(Status)>> flush_waiters_;   // thread_mu_: for the frozen layer
  std::vector<std::function<void(Status)>> flush_requests_;  // commit thread: not yet frozen
  std::thread thread_;
  std::mutex block_work_mu_;  // one flush or compaction at a time

  mutable std::mutex stats_mu_;
  mutable BlockStats stats_;  // stats_mu_ (blocks/bytes/raw_points recomputed on publish)
  struct ReadFailure {
    uint64_t block_id;
    std::string device, metric;
    int64_t min_ts, max_ts;
    std::string what;
  };
  mutable std::vector<ReadFailure> read_failures_;      // stats_mu_
  mutable std::atomic<bool> has_read_failures_{false};  // set with the first read_failures_
  uint64_t wal_records_skipped_ = 0;                    // set at open
  std::string last_commit_error_;                       // stats_mu_: empty after a good commit
  std::string last_block_error_;                        // stats_mu_: empty after a good write
};

template <typename Fn>
void TimeSeriesStore::scan(SeriesId id, int64_t start, int64_t end, Fn&& fn) const {
  std::shared_lock lock(state_mu_);
  if (only_in_head(id, start, end)) {
    head_.scan(id, start, end, std::forward<Fn>(fn));
    return;
  }
  for (const Sample& s : collect(id, start, end)) fn(s);
}

}  // namespace fp::tsdb
