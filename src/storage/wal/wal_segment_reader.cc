#include "storage/wal/wal_segment_reader.h"

#include <algorithm>
#include <cstring>

#include "storage/wal/wal_format.h"

namespace fp {
namespace {

constexpr size_t kReadChunk = 1 << 20;

}  // namespace

std::string_view to_string(WalDefect d) {
  switch (d) {
    case WalDefect::kNone:
      return "none";
    case WalDefect::kBadHeader:
      return "bad segment header";
    case WalDefect::kTruncatedRecord:
      return "truncated record (torn write)";
    case WalDefect::kBadLength:
      return "bad record length";
    case WalDefect::kChecksumMismatch:
      return "checksum mismatch";
    case WalDefect::kLsnOutOfSequence:
      return "LSN out of sequence";
  }
  return "unknown";
}

WalSegmentReader::WalSegmentReader(std::unique_ptr<SequentialFile> file, uint64_t file_size,
                                   uint64_t first_lsn)
    : file_(std::move(file)), file_size_(file_size), next_lsn_(first_lsn) {}

Result<std::unique_ptr<WalSegmentReader>> WalSegmentReader::open(FileSystem& fs,
                                                                 const std::string& path,
                                                                 uint64_t first_lsn) {
  FP_ASSIGN_OR_RETURN(uint64_t size, fs.file_size(path));
  FP_ASSIGN_OR_RETURN(std::unique_ptr<SequentialFile> file, fs.open_sequential(path));
  std::unique_ptr<WalSegmentReader> r(new WalSegmentReader(std::move(file), size, first_lsn));
  FP_ASSIGN_OR_RETURN(bool have_header, r->fill(wal::kSegmentHeaderSize));
  if (!have_header) {
    r->fail(WalDefect::kBadHeader, "file of " + std::to_string(size) + " bytes ends in the header");
    return r;
  }
  std::string_view header = std::string_view(r->buf_).substr(r->pos_, wal::kSegmentHeaderSize);
  if (header.starts_with(wal::kSegmentMagic) &&
      static_cast<uint8_t>(header[5]) != wal::kFormatVersion) {
    // Another version is not damage: cutting it away would destroy a newer build's log.
    return Status::Corruption("WAL segment " + path + " has format version " +
                              std::to_string(static_cast<uint8_t>(header[5])) +
                              "; this build reads version " + std::to_string(wal::kFormatVersion));
  }
  std::optional<uint64_t> header_lsn = wal::parse_segment_header(header);
  if (!header_lsn) {
    r->fail(WalDefect::kBadHeader, "not a version 1 segment header");
  } else if (*header_lsn != first_lsn) {
    r->fail(WalDefect::kBadHeader, "header says first LSN " + std::to_string(*header_lsn) +
                                       ", name says " + std::to_string(first_lsn));
  } else {
    r->pos_ += wal::kSegmentHeaderSize;
    r->offset_ = r->good_end_ = wal::kSegmentHeaderSize;
  }
  return r;
}

Result<bool> WalSegmentReader::fill(size_t n) {
  if (end_ - pos_ >= n) return true;
  // Move the unread bytes to the front, then read until n bytes are buffered.
  std::memmove(buf_.data(), buf_.data() + pos_, end_ - pos_);
  end_ -= pos_;
  pos_ = 0;
  // Reading in big chunks is fast, but small segments need no more than their size.
  size_t want = std::max<size_t>(n, std::min<uint64_t>(kReadChunk, file_size_));
  if (buf_.size() < want) buf_.resize(want);
  while (end_ < n) {
    FP_ASSIGN_OR_RETURN(size_t got, file_->read(buf_.data() + end_, buf_.size() - end_));
    if (got == 0) return false;
    end_ += got;
  }
  return true;
}

bool WalSegmentReader::fail(WalDefect d, std::string detail) {
  defect_ = d;
  detail_ = std::move(detail);
  return false;
}

Result<bool> WalSegmentReader::resync(WalDefect d, std::string detail) {
  const uint64_t start = offset_;
  FP_ASSIGN_OR_RETURN(bool all, fill(file_size_ - offset_));
  if (!all) return fail(WalDefect::kTruncatedRecord, "file shrank while reading");
  const std::string_view rest(buf_.data() + pos_, file_size_ - offset_);
  for (size_t p = 1; p + wal::kRecordHeaderSize <= rest.size(); ++p) {
    const wal::RecordHeader h = wal::parse_record_header(rest.substr(p));
    if (h.length > wal::kMaxPayloadBytes || h.length > rest.size() - p - wal::kRecordHeaderSize)
      continue;
    // The records lost in the p skipped bytes take at least 16 bytes each, which bounds how
    // far the LSN can have moved on (and makes a false match of 8 random bytes unlikely).
    if (h.lsn < next_lsn_ || h.lsn - next_lsn_ > p / wal::kRecordHeaderSize) continue;
    if (wal::record_checksum(h.lsn, rest.substr(p + wal::kRecordHeaderSize, h.length)) !=
        h.checksum)
      continue;
    skips_.push_back({start, p, next_lsn_, h.lsn - next_lsn_, d, std::move(detail)});
    pos_ += p;
    offset_ += p;
    next_lsn_ = h.lsn;
    return true;
  }
  return fail(d, std::move(detail));
}

Result<bool> WalSegmentReader::next(WalRecordView* record) {
  for (;;) {
    if (defect_ != WalDefect::kNone || offset_ >= file_size_) return false;
    auto at = [this] { return " at offset " + std::to_string(offset_); };
    const uint64_t remaining = file_size_ - offset_;
    FP_ASSIGN_OR_RETURN(bool have_header, fill(wal::kRecordHeaderSize));
    if (remaining < wal::kRecordHeaderSize || !have_header) {
      // Too short to hold any record: only ever a torn tail.
      return fail(WalDefect::kTruncatedRecord, "record header cut short" + at());
    }
    const wal::RecordHeader h = wal::parse_record_header(std::string_view(buf_).substr(pos_));
    const uint64_t framed = wal::kRecordHeaderSize + uint64_t{h.length};
    WalDefect d = WalDefect::kNone;
    std::string detail;
    if (h.length > wal::kMaxPayloadBytes) {
      d = WalDefect::kBadLength;
      detail = "length " + std::to_string(h.length) + at();
    } else if (framed > remaining) {
      d = WalDefect::kTruncatedRecord;
      detail = "record of " + std::to_string(framed) + " bytes with " + std::to_string(remaining) +
               " left in the file" + at();
    } else {
      FP_ASSIGN_OR_RETURN(bool have_record, fill(framed));
      if (!have_record)
        return fail(WalDefect::kTruncatedRecord, "file shrank while reading" + at());
      const std::string_view payload(buf_.data() + pos_ + wal::kRecordHeaderSize, h.length);
      if (wal::record_checksum(h.lsn, payload) != h.checksum) {
        d = WalDefect::kChecksumMismatch;
        detail = "record" + at();
      } else if (h.lsn < next_lsn_) {
        d = WalDefect::kLsnOutOfSequence;
        detail = "LSN " + std::to_string(h.lsn) + " where " + std::to_string(next_lsn_) +
                 " was expected" + at();
      } else {
        if (h.lsn > next_lsn_) {
          // An intact record further on in the sequence: the ones between are missing.
          skips_.push_back({offset_, 0, next_lsn_, h.lsn - next_lsn_, WalDefect::kLsnOutOfSequence,
                            "LSN " + std::to_string(h.lsn) + " where " + std::to_string(next_lsn_) +
                                " was expected" + at()});
        }
        pos_ += framed;
        offset_ += framed;
        good_end_ = offset_;
        next_lsn_ = h.lsn + 1;
        record->lsn = h.lsn;
        record->payload = payload;
        return true;
      }
    }
    FP_ASSIGN_OR_RETURN(bool moved, resync(d, std::move(detail)));
    if (!moved) return false;
  }
}

}  // namespace fp
