#pragma once
// WalSegmentReader: reads the records of one WAL segment file in order and stops at the first
// defect — a bad header, a record the file ends inside, an impossible length, a checksum
// mismatch or an LSN out of sequence — reporting what it found and where the last good record
// ends, so recovery can cut the segment there. Used by recover_wal(); not thread-safe.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

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
  // segment or at a defect (see defect()). Errors are I/O failures.
  Result<bool> next(WalRecordView* record);

  WalDefect defect() const { return defect_; }
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
};

}  // namespace fp
