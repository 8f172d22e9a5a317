#include "storage/tsdb/compaction.h"

#include <algorithm>
#include <map>

#include "storage/codec/chunk_encoder.h"
#include "storage/tsdb/rollup.h"

namespace fp::tsdb {
namespace {

using block::Resolution;

struct Source {
  const LoadedBlock* block;
  const block::Entry* entry;
};

}  // namespace

bool needs_compaction(const BlockList& blocks) {
  size_t raw = 0;
  uint64_t raw_seq = 0, minute_seq = 0, hour_seq = 0;
  bool minute = false, hour = false;
  for (const auto& b : blocks) {
    const auto& m = b->meta();
    if (m.resolution == Resolution::kRaw) {
      ++raw;
      raw_seq = std::max(raw_seq, m.seq);
    } else if (m.resolution == Resolution::kMinute) {
      minute = true;
      minute_seq = std::max(minute_seq, m.seq);
    } else {
      hour = true;
      hour_seq = std::max(hour_seq, m.seq);
    }
  }
  if (raw == 0) return false;
  return raw > 1 || !minute || !hour || minute_seq < raw_seq || hour_seq < raw_seq;
}

bool rollups_complete(const BlockList& blocks) {
  const LoadedBlock* raw = nullptr;
  size_t minute = 0, hour = 0;
  for (const auto& b : blocks) {
    if (b->is_raw()) {
      if (raw) return false;
      raw = b.get();
    } else if (b->meta().resolution == Resolution::kMinute) {
      minute = std::max(minute, b->reader->entries().size());
    } else {
      hour = std::max(hour, b->reader->entries().size());
    }
  }
  if (!raw) return true;
  const size_t n = raw->reader->entries().size();
  return minute >= n && hour >= n;
}

Result<CompactionResult> compact_partition(FileSystem& fs, const std::string& blocks_dir,
                                           const BlockList& blocks, const Tombstones& tombstones,
                                           const std::function<uint64_t()>& next_block_id,
                                           bool always_rollup) {
  CompactionResult result;
  if (blocks.empty()) return result;
  const int64_t partition_start = blocks.front()->meta().partition_start;
  const int64_t partition_ms = blocks.front()->meta().partition_ms;
  uint64_t seq = 0;
  std::vector<uint64_t> raw_ids, minute_ids, hour_ids;
  std::map<std::pair<std::string_view, std::string_view>, std::vector<Source>> series;
  for (const auto& b : blocks) {
    const auto& m = b->meta();
    if (m.resolution == Resolution::kMinute) {
      minute_ids.push_back(m.id);
      continue;
    }
    if (m.resolution == Resolution::kHour) {
      hour_ids.push_back(m.id);
      continue;
    }
    raw_ids.push_back(m.id);
    seq = std::max(seq, m.seq);
    for (const block::Entry& e : b->reader->entries()) {
      if (!visible(tombstones, e.device, m.seq)) continue;
      series[{e.device, e.metric}].push_back({b.get(), &e});
    }
  }

  auto writer_for =
      [&](Resolution r,
          std::vector<uint64_t> replaces) -> Result<std::unique_ptr<block::BlockWriter>> {
    block::BlockMeta meta;
    meta.id = next_block_id();
    meta.seq = seq;
    meta.resolution = r;
    meta.partition_start = partition_start;
    meta.partition_ms = partition_ms;
    meta.replaces = std::move(replaces);
    return block::BlockWriter::create(fs, blocks_dir, block_file_name(meta.id), meta);
  };
  FP_ASSIGN_OR_RETURN(auto minute_w, writer_for(Resolution::kMinute, minute_ids));
  FP_ASSIGN_OR_RETURN(auto hour_w, writer_for(Resolution::kHour, hour_ids));
  FP_ASSIGN_OR_RETURN(auto raw_w, writer_for(Resolution::kRaw, raw_ids));

  // The inputs' pages read so far leave the process' RSS every kReleaseEvery bytes read (and at
  // the end): a compaction's memory is not the size of the day it merges.
  constexpr uint64_t kReleaseEvery = 8u << 20;
  uint64_t read_since_release = 0;
  auto release_inputs = [&] {
    for (const auto& b : blocks) b->reader->release_resident();
    read_since_release = 0;
  };
  std::vector<Sample> all;
  codec::ChunkEncoder enc;
  for (const auto& [key, sources] : series) {
    all.clear();
    for (const Source& s : sources) {  // oldest first: blocks are sorted by seq
      FP_RETURN_IF_ERROR(append_points(*s.block, *s.entry, INT64_MIN, INT64_MAX, all));
      read_since_release += s.entry->stored_len;
    }
    if (read_since_release >= kReleaseEvery) release_inputs();
    if (sources.size() > 1) merge_newest_wins(all);
    if (all.empty()) continue;
    enc.clear();
    for (const Sample& s : all) enc.append(s.ts, s.value);
    block::EntryInfo info{key.first,     key.second,       all.front().ts,
                          all.back().ts, all.back().value, static_cast<uint32_t>(all.size())};
    FP_RETURN_IF_ERROR(raw_w->add(info, enc.finish()));
    result.points += all.size();
    for (auto& [w, r] : {std::pair{minute_w.get(), Resolution::kMinute},
                         std::pair{hour_w.get(), Resolution::kHour}}) {
      const auto buckets = build_rollups(all, block::resolution_ms(r));
      if (!always_rollup && all.size() < 32 * buckets.size()) continue;
      block::EntryInfo ri{key.first,
                          key.second,
                          buckets.front().start,
                          buckets.back().start,
                          buckets.back().last,
                          static_cast<uint32_t>(buckets.size())};
      FP_RETURN_IF_ERROR(w->add(ri, encode_rollups(buckets)));
    }
  }
  release_inputs();
  // Rollups first: if the raw output never appears, the inputs stay and are compacted again.
  for (auto* w : {minute_w.get(), hour_w.get(), raw_w.get()}) {
    FP_RETURN_IF_ERROR(w->finish().status());
  }
  for (const auto& m : {minute_w->meta(), hour_w->meta(), raw_w->meta()}) {
    const std::string path = join_path(blocks_dir, block_file_name(m.id));
    FP_ASSIGN_OR_RETURN(auto reader, block::BlockReader::open(fs, path));
    result.written.emplace_back(std::move(reader), path);
  }
  result.replaced = raw_ids;
  result.replaced.insert(result.replaced.end(), minute_ids.begin(), minute_ids.end());
  result.replaced.insert(result.replaced.end(), hour_ids.begin(), hour_ids.end());
  return result;
}

}  // namespace fp::tsdb
