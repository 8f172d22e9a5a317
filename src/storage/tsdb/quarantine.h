#pragma once
// Quarantine: the folder <store>/quarantine where recovery puts what it could not read, so
// nothing damaged is ever deleted. Each damaged file is moved (a block, CHECKPOINT,
// TOMBSTONES, a WAL segment with a bad header) or copied (a WAL segment damaged in the
// middle, which stays in use) there, next to a note `<name>.damage`: one line saying what was
// found, then one line per range of readings that may be lost (`lost <device|*> <metric|*>
// <start ms> <end ms>`, tab-separated). A note can also stand alone (a missing CHECKPOINT).
// Acknowledging renames every `.damage` note to `.acknowledged` (atomic), so the state is on
// disk and survives kill -9: unacknowledged notes make the store `degraded` and mark the
// answers they may concern `partial`; acknowledged ones only stay for the record.
//
// Thread safety: every method may be called from any thread.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "storage/fs/file_system.h"
#include "util/result.h"

namespace fp::tsdb {

// Readings that may be lost: of one series, or of any ("" = any device / metric).
struct LostRange {
  std::string device;
  std::string metric;
  int64_t start = INT64_MIN;
  int64_t end = INT64_MAX;
};

struct DamageNote {
  std::string name;  // the quarantined file's name (or the note's subject)
  std::string what;  // one line: what was found and what was done
  std::vector<LostRange> lost;
  bool acknowledged = false;
};

class Quarantine {
 public:
  // `dir` is created on the first note.
  Quarantine(FileSystem& fs, std::string dir) : fs_(fs), dir_(std::move(dir)) {}

  // Reads the notes already in the folder.
  Status load();
  // Moves `path` into the folder (rename, same file system) and writes its note, in that
  // order: a crash between leaves the file in quarantine, and load() notes it anew.
  Status move_in(const std::string& path, std::string what, std::vector<LostRange> lost = {});
  // Copies `path` into the folder (the original stays) and writes its note. A file of that
  // name already there (found again at a later start) is kept and not noted twice.
  Status copy_in(const std::string& path, std::string what, std::vector<LostRange> lost = {});
  // Writes a note about `name` without a file.
  Status note(const std::string& name, std::string what, std::vector<LostRange> lost = {});
  // True when `name` is in the folder (as a file or a note).
  bool has(const std::string& name) const;

  // Marks every note acknowledged; returns how many were not yet.
  Result<size_t> acknowledge_all();

  std::vector<DamageNote> notes() const;
  size_t unacknowledged() const;
  size_t files() const;  // damaged files kept (notes not counted)
  // One line per unacknowledged note that may concern readings of (device, metric) in
  // [start, end], joined by "; " (empty: none).
  std::string lost_reason(std::string_view device, std::string_view metric, int64_t start,
                          int64_t end) const;
  // False when no unacknowledged note has a lost range, so lost_reason() is empty for every
  // series: a lock-free check for readers that ask per series.
  bool may_have_lost() const { return may_have_lost_.load(std::memory_order_acquire); }
  const std::string& dir() const { return dir_; }

 private:
  // Sets may_have_lost_ from notes_ when it goes out of scope: declared after the lock in each
  // method that changes notes_, so it runs under mu_ on every way out.
  struct LostFlagUpdate {
    Quarantine* q;
    ~LostFlagUpdate();
  };
  Status write_note(const DamageNote& n);  // needs mu_

  FileSystem& fs_;
  const std::string dir_;
  mutable std::mutex mu_;
  std::vector<DamageNote> notes_;           // mu_
  std::atomic<bool> may_have_lost_{false};  // written under mu_
};

}  // namespace fp::tsdb
