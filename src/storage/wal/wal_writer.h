#pragma once
// WalWriter: appends framed records (see wal_format.h) to the WAL's segment files and makes
// them durable under the configured fsync policy. It is the group-commit point of the server:
// the single commit thread append()s the records of many requests, then calls commit() once,
// and one fsync covers them all.
//
// Segments roll at commit boundaries: the first commit after the current segment reached
// segment_bytes starts a new one (so a segment can exceed segment_bytes by one commit's worth,
// and a record bigger than segment_bytes still fits). Each segment is created with its header
// and, unless the policy is kNone, fsynced together with its directory before records go in.
//
// Failure model: if commit() fails, the records appended since the last successful commit are
// discarded, their LSNs will be handed out again, and the segment is cut back to its length
// before that commit (also when the disk is full), so what is on disk stays a valid WAL and
// later commits succeed once the cause is gone. One failure is sticky: an fsync that fails
// while acknowledged-but-unsynced records exist (kInterval, kNone) leaves them in doubt, so
// every later call fails until the process restarts and recovers.
//
// Thread safety: one thread (the commit thread) calls every method except stats(), which any
// thread may call. The FileSystem and clock must outlive the writer.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/fs/file_system.h"
#include "util/clock.h"
#include "util/result.h"

namespace fp {

// When committed records are fsynced. The app maps its configuration onto this.
enum class FsyncPolicy {
  kAlways,    // commit() returns after fsync: an acknowledged record survives power loss
  kInterval,  // at most one fsync per interval_ms, on commit(), sync_if_due() or sync_now()
  kNone,      // never fsync; the OS writes back when it likes
};

struct WalOptions {
  std::string dir;                       // created (with parents) if missing
  uint64_t segment_bytes = 64ull << 20;  // roll to a new segment once one is this big
  FsyncPolicy fsync = FsyncPolicy::kAlways;
  int64_t interval_ms = 1000;    // for kInterval
  const Clock* clock = nullptr;  // times kInterval; SystemClock::instance() when null
};

// A snapshot for metrics and health checks.
struct WalStats {
  uint64_t bytes = 0;             // size of all segment files of the directory
  uint64_t segments = 0;          // segment files in the directory
  uint64_t fsyncs = 0;            // file and directory fsyncs issued by this writer
  uint64_t commits = 0;           // successful commits that wrote records
  uint64_t last_written_lsn = 0;  // records <= this were handed to the OS (0: none)
  uint64_t last_synced_lsn = 0;   // records <= this are durable (0: none)
};

class WalWriter {
 public:
  // Opens the WAL in options.dir for appending records from `next_lsn` (>= 1), normally
  // WalRecoveryResult::next_lsn; reads the newest segment to check that. No segment is created
  // until the first commit. kInvalidArgument when a segment already holds records at or after
  // next_lsn, or ends in a torn or corrupt record (recover_wal was not run).
  static Result<std::unique_ptr<WalWriter>> open(FileSystem& fs, WalOptions options,
                                                 uint64_t next_lsn);

  WalWriter(const WalWriter&) = delete;
  WalWriter& operator=(const WalWriter&) = delete;
  // Closes the current segment without writing uncommitted records; call close() to keep them.
  ~WalWriter();

  // Buffers one record in memory and returns its LSN. No I/O. kTooLarge when the payload is
  // over wal::kMaxPayloadBytes.
  Result<uint64_t> append(std::string_view payload);

  // Writes every buffered record in one write (rolling to a new segment first if due) and,
  // under kAlways, fsyncs before returning; under kInterval fsyncs if interval_ms has passed
  // since the last fsync. Ok with nothing buffered. See the failure model above.
  Status commit();

  // Fsyncs the current segment if it holds unsynced records (any policy).
  Status sync_now();
  // Under kInterval: sync_now() if unsynced records are older than interval_ms; the commit
  // thread calls this when idle. A no-op under the other policies.
  Status sync_if_due();

  // Makes the next commit start a new segment, so that the current one can be removed
  // whole by truncate_before() once a checkpoint covers it.
  void roll_on_next_commit() { roll_requested_ = true; }
  // Starts a new (empty) segment now if the current one holds records; nothing may be
  // pending. Lets a checkpoint that covers every record free the current segment too.
  Status start_new_segment();

  // Removes whole segments whose records all have LSN < `lsn` (call after a checkpoint
  // covering everything before `lsn`). The newest segment is always kept.
  Status truncate_before(uint64_t lsn);

  // Commits what is buffered, fsyncs unless the policy is kNone, closes the segment. Every
  // later call fails.
  Status close();

  // The LSN the next append() will return.
  uint64_t next_lsn() const { return next_lsn_; }
  // Thread-safe.
  WalStats stats() const;

 private:
  struct Segment {
    uint64_t first_lsn;
    uint64_t bytes;
  };

  WalWriter(FileSystem& fs, WalOptions options, uint64_t next_lsn, std::vector<Segment> segments);

  Status usable() const;
  Status write_pending();
  Status roll();
  Result<std::unique_ptr<WritableFile>> create_segment(const std::string& path, uint64_t first_lsn);
  Status repair();
  Status sync_current();
  void publish_stats();
  std::string segment_path(uint64_t first_lsn) const;

  // Constant after construction.
  FileSystem& fs_;
  const WalOptions options_;
  const Clock& clock_;

  // Owned by the calling thread.
  std::vector<Segment> segments_;  // oldest first; back() is the current segment when open
  std::unique_ptr<WritableFile> current_;
  std::string current_path_;
  std::string pending_;         // framed records not yet written
  uint64_t pending_first_lsn_;  // LSN of the first record in pending_
  uint64_t next_lsn_;
  uint64_t written_lsn_;
  uint64_t synced_lsn_;
  bool unsynced_ = false;  // current_ holds records not yet fsynced
  int64_t last_sync_ms_;
  uint64_t fsyncs_ = 0;
  uint64_t commits_ = 0;
  std::optional<uint64_t> repair_size_;  // current_path_ must be cut back to this length
  Status failed_;                        // sticky failure; ok while usable
  bool closed_ = false;
  bool roll_requested_ = false;

  mutable std::mutex stats_mu_;
  WalStats stats_;  // protected by stats_mu_
};

}  // namespace fp
