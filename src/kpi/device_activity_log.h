#pragma once
// DeviceActivityLog: the per-device facts KPIs need that neither the catalog nor the telemetry
// store keeps: messages, bytes and rejections per hour (the last 25 hours), a bounded sample
// of response times (receive time minus the device's own `ts`), and a compact battery series
// (one sample per 30 minutes, the last 48).
//
// Durability (after open()): every change is also a record of the activity journal
// (<dir>/activity.journal, format in kpi/activity_record.h). Changes recorded by the ingest
// commit thread are written (one write(2) per commit) by write_pending(), which the commit
// thread calls before it acknowledges the reports they came from; rejections, forget() and
// clear() are written before the call returns. So a kill -9 loses nothing that was answered.
// The journal is fdatasync'ed once a second (a power cut may lose the last second of KPI
// activity, never telemetry) and rewritten compactly, as the state it describes, when it grows.
// Without open() the log is in memory only (tests).
//
// Memory: about 1.3 KB per device that reported. Thread safety: every method locks mu_; the
// ingest commit thread records through it, so each call is O(1) apart from the file write.

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "kpi/activity_record.h"
#include "storage/fs/file_system.h"
#include "util/result.h"

namespace fp {

struct ActivityTotals {
  uint64_t messages = 0;  // accepted reports (heartbeats, telemetry messages)
  uint64_t bytes = 0;
  uint64_t rejected = 0;
};

struct BatterySample {
  int64_t at_ms;
  double level;
};

struct DeviceActivity {
  ActivityTotals totals;               // within the asked window (at hour granularity)
  std::vector<double> response_ms;     // samples within the window
  std::vector<BatterySample> battery;  // oldest first, within the window
  // Start of the hour the counted totals begin at: the later of the window's start hour and
  // the oldest hour kept (kHours - 1 hours before the newest one recorded).
  int64_t totals_since_ms = 0;
};

struct ActivityJournalStats {
  uint64_t bytes = 0;          // current journal size
  uint64_t compactions = 0;    // rewrites since start
  uint64_t write_errors = 0;   // appends, syncs or rewrites that failed (logged)
  uint64_t replayed = 0;       // records replayed at open()
  uint64_t dropped_bytes = 0;  // torn or corrupt tail cut at open()
  // Damage in the middle of the journal at open(): skipped up to the next valid record, the
  // journal moved to <dir>/quarantine and rewritten from what was read.
  uint64_t damaged_bytes = 0;
  uint64_t damaged_stretches = 0;
  std::string quarantined;  // "activity.journal -> quarantine/activity.journal.N", or empty
  bool damage_unacknowledged = false;  // set by that damage, cleared by acknowledge_damage()
};

// What check_activity_journal found in a journal, without changing it.
struct ActivityJournalCheck {
  bool present = false;        // the journal exists
  bool readable = true;        // its header is one this build reads
  uint64_t records = 0;        // valid records
  uint64_t damaged_bytes = 0;  // in the middle (later records are valid)
  uint64_t damaged_stretches = 0;
  uint64_t torn_tail_bytes = 0;    // at the end, cut at the next open (normal after a crash)
  uint64_t quarantined_files = 0;  // in <dir>/quarantine
};
// Reads <dir>/activity.journal as open() would, for `fleetpulse check`. Errors: I/O only.
Result<ActivityJournalCheck> check_activity_journal(FileSystem& fs, const std::string& dir);

class DeviceActivityLog {
 public:
  static constexpr int kHours = 25;
  static constexpr int kResponseSamples = 16;
  static constexpr int kBatterySamples = 48;
  static constexpr int64_t kBatterySpacingMs = 30 * 60 * 1000;
  static constexpr int64_t kHourMs = 3'600'000;

  DeviceActivityLog() = default;
  ~DeviceActivityLog();
  DeviceActivityLog(const DeviceActivityLog&) = delete;
  DeviceActivityLog& operator=(const DeviceActivityLog&) = delete;

  // Restores the state journaled in `dir` (created if needed; a torn tail is cut) and makes
  // every later change durable there; starts the once-a-second sync thread. `fs` must outlive
  // the log. Call once, before any record_*.
  Status open(FileSystem& fs, const std::string& dir);

  // A report accepted at `at_ms` (server time) of `bytes` bytes.
  void record_message(const std::string& device, int64_t at_ms, uint64_t bytes);
  // `messages` reports of `bytes` bytes in all at `at_ms` (one journal record).
  void record_messages(const std::string& device, int64_t at_ms, uint64_t messages, uint64_t bytes);
  // Journaled at once (these come from request threads, before their 4xx answer).
  void record_rejected(const std::string& device, int64_t at_ms, uint64_t count = 1);
  void record_response_time(const std::string& device, int64_t at_ms, double ms);
  void record_battery(const std::string& device, int64_t at_ms, double level);
  void forget(const std::string& device);  // journaled at once
  void clear();                            // journaled at once

  // Writes what record_message/response_time/battery journaled since the last write.
  // The commit thread calls it before answering the reports they came from.
  Status write_pending();

  // What happened in [since_ms, now]: hourly buckets that end after since_ms count whole.
  DeviceActivity activity(const std::string& device, int64_t since_ms) const;
  // Calls fn(device, activity) for every device, in one pass under the lock.
  template <typename Fn>
  void for_each(int64_t since_ms, Fn&& fn) const {
    std::lock_guard lock(mu_);
    for (const auto& [id, e] : devices_) fn(id, collect(e, since_ms));
  }

  // Calls fn(device, this_hour, previous_hour) for every device, in one pass under the lock:
  // its totals of the hour holding `at_ms` and of the hour before (zero when not kept).
  template <typename Fn>
  void for_each_recent_hours(int64_t at_ms, Fn&& fn) const {
    const int64_t hour = at_ms >= 0 ? at_ms / kHourMs : (at_ms - kHourMs + 1) / kHourMs;
    std::lock_guard lock(mu_);
    for (const auto& [id, e] : devices_) {
      ActivityTotals now, before;
      for (const Bucket& b : e.hours) {
        if (b.hour == hour) now = b.totals;
        if (b.hour == hour - 1) before = b.totals;
      }
      fn(id, now, before);
    }
  }

  ActivityJournalStats journal_stats() const;
  // The damage open() found (the damage fields of journal_stats()), without waiting for the
  // journal's disk writes (journal_stats() may wait for an fsync): for health and metrics.
  ActivityJournalStats journal_damage() const;
  // An operator saw the damage open() reported: detailed health no longer says degraded for
  // it (in memory: the rewritten journal is clean, so a restart does not report it again).
  // Returns 1 when there was damage to acknowledge, else 0. Any thread.
  size_t acknowledge_damage();

  // fdatasync, and rewrite the journal compactly when it is over `compact_bytes` (the sync
  // thread calls this once a second with its own threshold; tests call it directly).
  Status sync(uint64_t compact_bytes);

 private:
  struct Bucket {
    int64_t hour = -1;  // epoch hour this slot holds
    ActivityTotals totals;
  };
  struct Entry {
    // The hours with activity, oldest first; at most kHours, none older than
    // newest_hour - kHours + 1 (a device that reported in one hour costs one bucket, not 25).
    std::vector<Bucket> hours;
    std::vector<std::pair<int64_t, float>> response;  // ring of (at, ms)
    size_t response_next = 0;
    std::vector<BatterySample> battery;  // ring
    size_t battery_next = 0;
    int64_t last_battery_ms = 0;
    int64_t newest_hour = -1;  // newest hour recorded, to know which hours are still kept
  };
  Bucket& bucket(Entry& e, int64_t at_ms);
  static DeviceActivity collect(const Entry& e, int64_t since_ms);
  // Applies a change to the state (mu_ held); false when it changed nothing (a battery
  // sample closer than kBatterySpacingMs to the last one), so it is not journaled.
  bool apply_locked(const ActivityRecord& r);
  void record_locked(const ActivityRecord& r);  // apply, and journal when it changed state
  Status write_pending_locked();
  // Rewrites the journal as the records of the current state (mu_ NOT held: it is taken only
  // to copy the state and to switch files, not while the copy is written and synced).
  Status compact_journal();
  std::string snapshot_locked() const;  // the journal that rebuilds the current state
  void sync_thread();

  std::mutex sync_mu_;  // one sync() (and rewrite) at a time; taken before mu_
  mutable std::mutex mu_;
  ActivityJournalStats damage_;  // set by open() only; its damage fields (journal_damage)
  std::atomic<bool> damage_unacknowledged_{false};
  std::unordered_map<std::string, Entry> devices_;  // guarded by mu_
  // The journal (null when in memory only); all guarded by mu_.
  FileSystem* fs_ = nullptr;
  std::string dir_;
  std::unique_ptr<WritableFile> file_;
  std::string pending_;          // encoded records not yet written
  bool unsynced_ = false;        // written since the last fdatasync
  uint64_t snapshot_bytes_ = 0;  // size of the journal after the last rewrite
  bool compacting_ = false;      // a rewrite is being written: keep what is appended meanwhile
  std::string written_meanwhile_;
  ActivityJournalStats stats_;

  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace fp
