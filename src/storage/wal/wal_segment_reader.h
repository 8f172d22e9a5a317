#pragma once
// WalSegmentReader: reads the records of one WAL segment file in order. At a damaged record —
// an impossible length, a checksum mismatch, an LSN out of sequence, or a length that runs
// past the end of the file — it looks for the next valid record further on (a frame header
// whose length fits, whose LSN continues the sequence within what the skipped bytes could
// hold, and whose CRC-32C matches), skips to it and records the skipped stretch (skips()). Only
// when no valid record follows does it stop: that is the segment's tail defect (defect()),
// with the end of the last good record (good_end()) where recovery may cut a torn tail.
// Used by recover_wal() and WalWriter::open(); not thread-safe.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/fs/file_system.h"
#include "util/result.h"

namespace fp {

// Why a segment stops being readable before its end.
enum class WalDefect {
  kNone,
  kBadHeader,         // short, wrong magic/version, or its first LSN disagrees with the name
  kTruncatedRecord,   // the file ends inside a record: a torn write
  kBadLength,         // length field over wal::kMaxPayloadBytes
  kChecksumMismatch,  // CRC-32C over (LSN, payload) does not match
  kLsnOutOfSequence,  // a record (or a segment) does not continue the LSN sequence
};
std::string_view to_string(WalDefect d);

// A stretch of a segment that was skipped because it held no readable record.
struct WalSkip {
  uint64_t offset = 0;     // where the damage starts (the first unreadable record)
  uint64_t bytes = 0;      // bytes skipped
  uint64_t first_lsn = 0;  // the first LSN lost
  uint64_t records = 0;    // LSNs lost: first_lsn .. first_lsn + records - 1
  WalDefect reason = WalDefect::kNone;
  std::string detail;
};

// One record as read: `payload` stays valid until the next call to next().
struct WalRecordView {
  uint64_t lsn = 0;
  std::string_view payload;
};

class WalSegmentReader {
 public:
  // Opens the segment at `path` whose name says its first record has LSN `first_lsn`, and
  // checks its header (a bad header is a defect, not an error). Errors are I/O failures and
  // kCorruption for a well-formed header of another format version, which this build cannot
  // read and must not cut away.
  static Result<std::unique_ptr<WalSegmentReader>> open(FileSystem& fs, const std::string& path,
                                                        uint64_t first_lsn);

  // Reads the next record into `*record`: true when one was read, false at the end of the
  // segment or at a tail defect (see defect()). Damage followed by a valid record is skipped
  // and recorded in skips(). Errors are I/O failures.
  Result<bool> next(WalRecordView* record);

  WalDefect defect() const { return defect_; }
  // The damaged stretches skipped so far, in file order.
  const std::vector<WalSkip>& skips() const { return skips_; }
  // A sentence about the defect for the log, e.g. "record 17: LSN 40 where 17 was expected".
  const std::string& defect_detail() const { return detail_; }
  // Offset just past the last good record (or the header): where to cut at a defect.
  uint64_t good_end() const { return good_end_; }
  uint64_t file_size() const { return file_size_; }
  // The LSN the next record must carry: one past the last good record.
  uint64_t next_lsn() const { return next_lsn_; }

 private:
  WalSegmentReader(std::unique_ptr<SequentialFile> file, uint64_t file_size, uint64_t first_lsn);
  // Makes the next `n` bytes available at buf_[pos_, pos_ + n); false if the file ends first.
  Result<bool> fill(size_t n);
  bool fail(WalDefect d, std::string detail);
  // At a damaged record at offset_: moves to the next valid record and records the skip
  // (true), or, when none follows, sets the tail defect (false).
  Result<bool> resync(WalDefect d, std::string detail);

  std::unique_ptr<SequentialFile> file_;
  uint64_t file_size_;
  uint64_t next_lsn_;
  uint64_t good_end_ = 0;
  uint64_t offset_ = 0;  // file offset of buf_[pos_]
  std::string buf_;
  size_t pos_ = 0;
  size_t end_ = 0;
  WalDefect defect_ = WalDefect::kNone;
  std::string detail_;
  std::vector<WalSkip> skips_;
};

}  // namespace fp
