#include "storage/wal/wal_recovery.h"

#include <algorithm>

#include "storage/wal/wal_format.h"

namespace fp {
namespace {

struct SegmentFile {
  uint64_t first_lsn;
  std::string name;
};

Result<std::vector<SegmentFile>> list_segments(FileSystem& fs, const std::string& dir) {
  std::vector<SegmentFile> segments;
  if (!fs.exists(dir)) return segments;
  FP_ASSIGN_OR_RETURN(std::vector<std::string> names, fs.list_dir(dir));
  for (std::string& name : names) {
    if (std::optional<uint64_t> lsn = wal::parse_segment_file_name(name)) {
      segments.push_back({*lsn, std::move(name)});
    }
  }
  std::sort(segments.begin(), segments.end(),
            [](const SegmentFile& a, const SegmentFile& b) { return a.first_lsn < b.first_lsn; });
  return segments;
}

// Cuts segments[i] at `cut.offset` (or removes it) and removes every later segment.
Status apply_cut(FileSystem& fs, const std::string& dir, const std::vector<SegmentFile>& segments,
                 size_t i, uint64_t file_size, WalCut& cut) {
  std::string path = join_path(dir, segments[i].name);
  if (cut.segment_removed) {
    cut.offset = 0;
    FP_RETURN_IF_ERROR(fs.remove_file(path));
  } else {
    FP_RETURN_IF_ERROR(fs.truncate(path, cut.offset));
  }
  cut.bytes_dropped = file_size - cut.offset;
  for (size_t j = i + 1; j < segments.size(); ++j) {
    std::string later = join_path(dir, segments[j].name);
    FP_ASSIGN_OR_RETURN(uint64_t size, fs.file_size(later));
    FP_RETURN_IF_ERROR(fs.remove_file(later));
    cut.bytes_dropped += size;
    cut.removed.push_back(segments[j].name);
  }
  return fs.sync_dir(dir);
}

}  // namespace

std::string describe(const WalCut& cut) {
  std::string s = "WAL cut at " + cut.segment + " offset " + std::to_string(cut.offset) + ": " +
                  std::string(to_string(cut.reason));
  if (!cut.detail.empty()) s += " (" + cut.detail + ")";
  s += "; " + std::to_string(cut.bytes_dropped) + " bytes dropped";
  if (cut.segment_removed) s += ", segment removed";
  if (!cut.removed.empty())
    s += ", " + std::to_string(cut.removed.size()) + " later segments removed";
  return s;
}

Result<WalRecoveryResult> recover_wal(
    FileSystem& fs, const std::string& dir, uint64_t from_lsn,
    const std::function<Status(uint64_t lsn, std::string_view payload)>& fn) {
  from_lsn = std::max<uint64_t>(from_lsn, 1);
  FP_ASSIGN_OR_RETURN(std::vector<SegmentFile> segments, list_segments(fs, dir));
  WalRecoveryResult result;
  result.segments = segments.size();

  // Segment i holds LSNs [first_i, first_{i+1}): skip those wholly before from_lsn.
  size_t start = 0;
  while (start + 1 < segments.size() && segments[start + 1].first_lsn <= from_lsn) ++start;

  std::optional<uint64_t> expected;  // first LSN the next segment must start with
  for (size_t i = start; i < segments.size(); ++i) {
    const SegmentFile& seg = segments[i];
    std::string path = join_path(dir, seg.name);
    FP_ASSIGN_OR_RETURN(std::unique_ptr<WalSegmentReader> reader,
                        WalSegmentReader::open(fs, path, seg.first_lsn));
    WalCut cut;
    cut.segment = seg.name;
    if (expected && seg.first_lsn != *expected) {
      cut.reason = WalDefect::kLsnOutOfSequence;
      cut.detail = "segment starts at LSN " + std::to_string(seg.first_lsn) + " where " +
                   std::to_string(*expected) + " was expected";
      cut.segment_removed = true;
    } else {
      WalRecordView rec;
      for (;;) {
        FP_ASSIGN_OR_RETURN(bool got, reader->next(&rec));
        if (!got) break;
        result.last_lsn = rec.lsn;
        if (rec.lsn < from_lsn) continue;
        FP_RETURN_IF_ERROR(fn(rec.lsn, rec.payload));
        ++result.records_replayed;
      }
      if (reader->defect() == WalDefect::kNone) {
        expected = reader->next_lsn();
        continue;
      }
      cut.reason = reader->defect();
      cut.detail = reader->defect_detail();
      cut.offset = reader->good_end();
      cut.segment_removed = reader->defect() == WalDefect::kBadHeader;
      if (!cut.segment_removed) expected = reader->next_lsn();
    }
    FP_RETURN_IF_ERROR(apply_cut(fs, dir, segments, i, reader->file_size(), cut));
    result.segments = i + (cut.segment_removed ? 0 : 1);
    result.cut = std::move(cut);
    break;
  }
  // One past the last good record, or the first LSN of a trailing segment with no records.
  result.next_lsn = std::max(from_lsn, expected.value_or(0));
  return result;
}

}  // namespace fp
