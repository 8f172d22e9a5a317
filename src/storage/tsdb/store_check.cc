#include "storage/tsdb/store_check.h"

#include <algorithm>

#include "storage/block/block_frame.h"
#include "storage/block/block_salvage.h"
#include "storage/tsdb/store_files.h"
#include "storage/wal/wal_format.h"
#include "storage/wal/wal_segment_reader.h"

namespace fp::tsdb {

bool CheckReport::damaged() const {
  return std::any_of(findings.begin(), findings.end(), [](const auto& f) { return f.damage; });
}

namespace {

Result<uint64_t> check_blocks(FileSystem& fs, const std::string& dir, int64_t partition_ms,
                              CheckReport& rep) {
  uint64_t max_seq = 0;
  const std::string blocks = join_path(dir, "blocks");
  if (!fs.exists(blocks)) return max_seq;
  FP_ASSIGN_OR_RETURN(std::vector<std::string> names, fs.list_dir(blocks));
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    const std::string rel = "blocks/" + name;
    if (name.ends_with(".tmp")) {
      rep.findings.push_back({rel, "unfinished write (deleted at the next start)", false});
      continue;
    }
    if (!name.ends_with(".blk")) continue;
    ++rep.blocks;
    auto file = fs.map_file(join_path(blocks, name));
    if (!file.ok()) {
      rep.findings.push_back({rel, "cannot be read: " + std::string(file.status().message())});
      continue;
    }
    block::BlockSalvage s = block::salvage_block(*file, partition_ms);
    if (s.reader) rep.block_entries += s.reader->entries().size();
    if (s.whole()) {
      max_seq = std::max(max_seq, s.meta.seq);
      continue;
    }
    std::string what = s.problem;
    if (s.reader) {
      const auto& entries = s.reader->entries();
      const auto unknown = std::count_if(entries.begin(), entries.end(), block::is_unknown_loss);
      what += "; " + std::to_string(s.good.size()) + " of " +
              std::to_string(entries.size() - static_cast<size_t>(unknown)) + " series readable" +
              (unknown ? "; series after the damage may be missing (frames unreadable or the "
                         "file cut short)"
                       : "");
    } else if (s.range_known)
      what += "; index unreadable, partition starting " + std::to_string(s.meta.partition_start);
    else
      what += "; nothing identifiable";
    rep.findings.push_back({rel, what});
  }
  return max_seq;
}

Status check_wal(FileSystem& fs, const std::string& dir, uint64_t checkpoint_lsn,
                 CheckReport& rep) {
  const std::string wal = join_path(dir, "wal");
  if (!fs.exists(wal)) return Status::Ok();
  FP_ASSIGN_OR_RETURN(std::vector<std::string> names, fs.list_dir(wal));
  std::vector<std::pair<uint64_t, std::string>> segments;
  for (const auto& n : names)
    if (auto lsn = wal::parse_segment_file_name(n)) segments.emplace_back(*lsn, n);
  std::sort(segments.begin(), segments.end());
  uint64_t expected = 0;  // 0: not known
  for (size_t i = 0; i < segments.size(); ++i) {
    const auto& [first, name] = segments[i];
    const std::string rel = "wal/" + name;
    const bool last = i + 1 == segments.size();
    ++rep.wal_segments;
    auto covered = [&](uint64_t lsn) {
      return lsn < checkpoint_lsn ? " (those records are already in blocks)" : "";
    };
    if (expected != 0 && first != expected)
      rep.findings.push_back({rel, "starts at LSN " + std::to_string(first) + " where " +
                                       std::to_string(expected) + " was expected"});
    auto reader = WalSegmentReader::open(fs, join_path(wal, name), first);
    if (!reader.ok()) {
      rep.findings.push_back({rel, std::string(reader.status().message())});
      expected = 0;
      continue;
    }
    WalRecordView rec;
    for (;;) {
      FP_ASSIGN_OR_RETURN(bool got, (*reader)->next(&rec));
      if (!got) break;
      ++rep.wal_records;
    }
    for (const WalSkip& s : (*reader)->skips())
      rep.findings.push_back({rel, std::string(to_string(s.reason)) + " at offset " +
                                       std::to_string(s.offset) + ": " + std::to_string(s.bytes) +
                                       " bytes, " + std::to_string(s.records) +
                                       " records unreadable" + covered(s.first_lsn + s.records)});
    const WalDefect d = (*reader)->defect();
    if (d == WalDefect::kNone) {
      expected = (*reader)->next_lsn();
      continue;
    }
    const bool torn =
        last && (d != WalDefect::kBadHeader || (*reader)->file_size() <= wal::kSegmentHeaderSize);
    rep.findings.push_back(
        {rel,
         std::string(to_string(d)) + " (" + (*reader)->defect_detail() + ")" +
             (torn ? ": a torn tail, normal after a crash; cut at the next start" : ""),
         !torn});
    expected = 0;
  }
  return Status::Ok();
}

}  // namespace

Result<CheckReport> check_store(FileSystem& fs, const std::string& dir, int64_t partition_ms) {
  CheckReport rep;
  FP_ASSIGN_OR_RETURN(uint64_t max_seq, check_blocks(fs, dir, partition_ms, rep));
  uint64_t checkpoint_lsn = 1;
  if (!fs.exists(join_path(dir, "CHECKPOINT"))) {
    // Without one, only a first flush interrupted before its checkpoint is normal; the WAL
    // then still starts at LSN 1.
    bool wal_uncut = false;
    if (auto names = fs.list_dir(join_path(dir, "wal")); names.ok())
      for (const auto& n : *names) wal_uncut = wal_uncut || wal::parse_segment_file_name(n) == 1u;
    if (max_seq > 1 || (max_seq == 1 && !wal_uncut))
      rep.findings.push_back(
          {"CHECKPOINT", "missing while " + std::to_string(rep.blocks) +
                             " blocks exist (rebuilt from the blocks at the next start)"});
  } else if (auto cp = read_checkpoint(fs, dir); cp.ok()) {
    checkpoint_lsn = cp->lsn;
  } else {
    rep.findings.push_back({"CHECKPOINT", "unreadable: checksum or size wrong"});
  }
  if (auto t = read_tombstones(fs, dir); !t.ok())
    rep.findings.push_back({"TOMBSTONES", "unreadable: checksum or length wrong"});
  FP_RETURN_IF_ERROR(check_wal(fs, dir, checkpoint_lsn, rep));
  const std::string q = join_path(dir, "quarantine");
  if (fs.exists(q)) {
    FP_ASSIGN_OR_RETURN(std::vector<std::string> names, fs.list_dir(q));
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
      if (n.ends_with(".damage") || n.ends_with(".acknowledged") || n.ends_with(".tmp")) continue;
      ++rep.quarantined_files;
      const bool acked = std::find(names.begin(), names.end(), n + ".acknowledged") != names.end();
      rep.findings.push_back({"quarantine/" + n,
                              acked ? "kept in quarantine (acknowledged)"
                                    : "kept in quarantine (not yet acknowledged)",
                              false});
    }
  }
  return rep;
}

}  // namespace fp::tsdb
