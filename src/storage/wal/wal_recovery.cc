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

// Hands the records of a segment wholly before from_lsn to `covered`, as far as it reads.
uint64_t read_covered(FileSystem& fs, const std::string& path, uint64_t first_lsn,
                      uint64_t from_lsn,
                      const std::function<void(uint64_t, std::string_view)>& covered) {
  auto reader = WalSegmentReader::open(fs, path, first_lsn);
  if (!reader.ok() || (*reader)->defect() == WalDefect::kBadHeader) return 0;
  uint64_t n = 0;
  WalRecordView rec;
  for (;;) {
    auto got = (*reader)->next(&rec);
    if (!got.ok() || !*got) return n;
    if (rec.lsn >= from_lsn) return n;
    covered(rec.lsn, rec.payload);
    ++n;
  }
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

std::string describe(const WalDamage& d) {
  std::string s = "WAL damage in " + d.segment + " at offset " + std::to_string(d.offset) + ": " +
                  std::string(to_string(d.reason));
  if (!d.detail.empty()) s += " (" + d.detail + ")";
  s += "; " + std::to_string(d.bytes) + " bytes skipped";
  if (d.records > 0)
    s += ", " + std::to_string(d.records) + " records lost (LSN " + std::to_string(d.first_lsn) +
         (d.records > 1 ? ".." + std::to_string(d.first_lsn + d.records - 1) : "") + ")";
  if (d.before_checkpoint) s += ", all already in blocks";
  if (d.moved) s += ", segment moved to quarantine";
  return s;
}

Result<WalRecoveryResult> recover_wal(
    FileSystem& fs, const std::string& dir, uint64_t from_lsn,
    const std::function<Status(uint64_t lsn, std::string_view payload)>& fn,
    const std::string& quarantine_dir,
    const std::function<void(uint64_t lsn, std::string_view payload)>& covered) {
  from_lsn = std::max<uint64_t>(from_lsn, 1);
  FP_ASSIGN_OR_RETURN(std::vector<SegmentFile> segments, list_segments(fs, dir));
  WalRecoveryResult result;
  result.segments = segments.size();

  // Segment i holds LSNs [first_i, first_{i+1}): skip those wholly before from_lsn.
  size_t start = 0;
  while (start + 1 < segments.size() && segments[start + 1].first_lsn <= from_lsn) ++start;
  if (covered)
    for (size_t i = 0; i < start; ++i)
      result.records_covered += read_covered(fs, join_path(dir, segments[i].name),
                                             segments[i].first_lsn, from_lsn, covered);

  auto add_damage = [&](WalDamage d) {
    d.before_checkpoint = d.records > 0 && d.first_lsn + d.records <= from_lsn;
    if (!d.before_checkpoint && d.records > 0)
      result.records_skipped += d.first_lsn + d.records - std::max(d.first_lsn, from_lsn);
    result.damage.push_back(std::move(d));
  };
  std::optional<uint64_t> expected;   // first LSN the next segment should start with
  std::optional<WalDamage> open_end;  // a segment whose end was unreadable: lost up to the next
  for (size_t i = start; i < segments.size(); ++i) {
    const SegmentFile& seg = segments[i];
    const bool last = i + 1 == segments.size();
    std::string path = join_path(dir, seg.name);
    if (open_end) {
      // The previous segment's unreadable end lost the LSNs up to this segment's first one.
      if (seg.first_lsn > open_end->first_lsn)
        open_end->records = seg.first_lsn - open_end->first_lsn;
      add_damage(std::move(*open_end));
      open_end.reset();
      expected = seg.first_lsn;
    }
    if (expected && seg.first_lsn != *expected) {
      WalDamage d;
      d.segment = seg.name;
      d.reason = WalDefect::kLsnOutOfSequence;
      d.detail = "segment starts at LSN " + std::to_string(seg.first_lsn) + " where " +
                 std::to_string(*expected) + " was expected";
      if (seg.first_lsn > *expected) {  // a gap: segments or records missing
        d.first_lsn = *expected;
        d.records = seg.first_lsn - *expected;
        add_damage(std::move(d));
      } else {  // overlaps what was read: not part of this log's sequence, set aside
        FP_ASSIGN_OR_RETURN(d.bytes, fs.file_size(path));
        FP_RETURN_IF_ERROR(quarantine_dir.empty()
                               ? fs.rename(path, path + ".damaged")
                               : fs.rename(path, join_path(quarantine_dir, seg.name)));
        d.moved = !quarantine_dir.empty();
        FP_RETURN_IF_ERROR(fs.sync_dir(dir));
        add_damage(std::move(d));
        --result.segments;
        continue;
      }
    }
    FP_ASSIGN_OR_RETURN(std::unique_ptr<WalSegmentReader> reader,
                        WalSegmentReader::open(fs, path, seg.first_lsn));
    if (reader->defect() == WalDefect::kBadHeader) {
      if (last && reader->file_size() <= wal::kSegmentHeaderSize) {
        // A segment torn while it was being created holds nothing: cut as a torn tail.
        WalCut cut;
        cut.segment = seg.name;
        cut.reason = WalDefect::kBadHeader;
        cut.detail = reader->defect_detail();
        cut.segment_removed = true;
        FP_RETURN_IF_ERROR(apply_cut(fs, dir, segments, i, reader->file_size(), cut));
        result.segments = i;
        result.cut = std::move(cut);
        break;
      }
      WalDamage d;
      d.segment = seg.name;
      d.bytes = reader->file_size();
      d.reason = WalDefect::kBadHeader;
      d.detail = reader->defect_detail();
      d.first_lsn = seg.first_lsn;
      FP_RETURN_IF_ERROR(quarantine_dir.empty()
                             ? fs.rename(path, path + ".damaged")
                             : fs.rename(path, join_path(quarantine_dir, seg.name)));
      d.moved = !quarantine_dir.empty();
      FP_RETURN_IF_ERROR(fs.sync_dir(dir));
      --result.segments;
      if (last) {
        // Records of unknown count are gone with it; the log goes on after them.
        add_damage(std::move(d));
        expected = std::max(expected.value_or(0), seg.first_lsn);
      } else {
        open_end = std::move(d);
      }
      continue;
    }
    WalRecordView rec;
    for (;;) {
      FP_ASSIGN_OR_RETURN(bool got, reader->next(&rec));
      if (!got) break;
      result.last_lsn = rec.lsn;
      if (rec.lsn < from_lsn) {
        if (covered) {
          covered(rec.lsn, rec.payload);
          ++result.records_covered;
        }
        continue;
      }
      FP_RETURN_IF_ERROR(fn(rec.lsn, rec.payload));
      ++result.records_replayed;
    }
    for (const WalSkip& s : reader->skips())
      add_damage({seg.name, s.offset, s.bytes, s.first_lsn, s.records, s.reason, s.detail});
    if (reader->defect() == WalDefect::kNone) {
      expected = reader->next_lsn();
      continue;
    }
    if (!last) {
      // Nothing valid follows in this segment, but later segments go on: keep them all.
      open_end = WalDamage{seg.name,
                           reader->good_end(),
                           reader->file_size() - reader->good_end(),
                           reader->next_lsn(),
                           0,
                           reader->defect(),
                           reader->defect_detail()};
      continue;
    }
    // The tail of the newest segment: a torn write, cut after the last good record.
    WalCut cut;
    cut.segment = seg.name;
    cut.reason = reader->defect();
    cut.detail = reader->defect_detail();
    cut.offset = reader->good_end();
    expected = reader->next_lsn();
    FP_RETURN_IF_ERROR(apply_cut(fs, dir, segments, i, reader->file_size(), cut));
    result.cut = std::move(cut);
    break;
  }
  // One past the last good record, or the first LSN of a trailing segment with no records.
  result.next_lsn = std::max(from_lsn, expected.value_or(0));
  return result;
}

}  // namespace fp
