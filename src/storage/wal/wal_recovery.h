#pragma once
// WAL recovery: replays the records a crash left behind, skips damage in the middle of the log
// (reporting it), and cuts a torn tail so the server can start. Run it once at startup, before
// WalWriter::open on the same directory.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/fs/file_system.h"
#include "storage/wal/wal_segment_reader.h"
#include "util/result.h"

namespace fp {

// What recovery cut off at the first defect. Everything after the cut point is gone.
struct WalCut {
  std::string segment;               // file name of the segment the defect is in
  uint64_t offset = 0;               // its new length: the end of its last good record
  bool segment_removed = false;      // the whole segment went (bad header, or LSN gap)
  uint64_t bytes_dropped = 0;        // from this segment and the later ones together
  std::vector<std::string> removed;  // later segments removed whole
  WalDefect reason = WalDefect::kNone;
  std::string detail;  // e.g. "LSN 40 where 17 was expected at offset 1234"
};
// One line for the log: segment, offset, bytes dropped, reason.
std::string describe(const WalCut& cut);

// A stretch of the log recovery could not read and skipped; the segment is left in place.
struct WalDamage {
  std::string segment;     // file name
  uint64_t offset = 0;     // where in it the damage starts
  uint64_t bytes = 0;      // bytes skipped (the whole file for a bad header)
  uint64_t first_lsn = 0;  // first LSN lost
  uint64_t records = 0;    // LSNs lost (0 when unknown: a damaged header of the last segment)
  WalDefect reason = WalDefect::kNone;
  std::string detail;
  bool moved = false;  // the segment was moved out of the WAL (into `quarantine_dir`)
  // Every lost LSN is below the checkpoint: the records are in blocks already, nothing lost.
  bool before_checkpoint = false;
};
// One line for the log: segment, offset, bytes and records skipped, reason.
std::string describe(const WalDamage& d);

struct WalRecoveryResult {
  uint64_t next_lsn = 1;          // the LSN to pass to WalWriter::open
  uint64_t records_replayed = 0;  // records handed to the callback (LSN >= from_lsn)
  uint64_t last_lsn = 0;          // highest valid LSN found (0: none)
  uint64_t segments = 0;          // segment files left in the directory
  std::optional<WalCut> cut;      // set when a torn or corrupt tail was cut off
  std::vector<WalDamage> damage;  // skipped stretches in the middle of the log
  uint64_t records_skipped = 0;   // LSNs lost at or after from_lsn (sum over `damage`)
  uint64_t records_covered = 0;   // records handed to `covered` (LSN < from_lsn)
};

// Calls `fn` for every valid record with LSN >= `from_lsn` (the first LSN not covered by the
// last checkpoint; >= 1), in LSN order across the segments of `dir`. Segments whose records
// all precede from_lsn are skipped unread. Damage costs only itself: a damaged record is
// skipped up to the next valid one (WalSegmentReader), a segment whose end is unreadable or
// that does not start where the previous one ended is read on, and a segment with a damaged
// header is moved whole into `quarantine_dir` (renamed `<name>.damaged` in `dir` when that is
// empty); each is reported in `damage`, and no segment is removed. Only the tail of the last
// segment — where nothing valid follows the last good record, the signature of a torn write —
// is cut (`cut`); a last segment of at most a header is removed as before. A missing or
// empty directory is an empty WAL.
//
// The result's next_lsn is max(from_lsn, last valid LSN + 1) (or the first LSN of a last
// segment that holds no record), so no remaining segment is named after a later LSN.
// Errors: I/O failures; kCorruption for a segment of another format version (nothing is cut:
// an operator must choose); and the first non-ok Status from `fn`, which stops the replay
// (nothing is cut then). The payload view passed to `fn` is only valid during the call.
//
// `covered`, when given, is called (in LSN order, before any call of `fn`) for every valid
// record with LSN < from_lsn still on disk: what the checkpoint holds already, but state
// derived from it (last-seen times) may not be saved yet. Segments read only for it are read
// as far as they are readable; their damage is neither reported nor acted on (the records are
// in blocks), and they are never moved or cut.
Result<WalRecoveryResult> recover_wal(
    FileSystem& fs, const std::string& dir, uint64_t from_lsn,
    const std::function<Status(uint64_t lsn, std::string_view payload)>& fn,
    const std::string& quarantine_dir = "",
    const std::function<void(uint64_t lsn, std::string_view payload)>& covered = {});

}  // namespace fp
