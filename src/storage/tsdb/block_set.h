#pragma once
// LoadedBlock: an open block file plus the map from this process's SeriesIds to its entries.
// A BlockList is an immutable snapshot of the store's blocks, sorted by partition, then
// resolution, then seq (so, within a partition, newer data comes later).

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "storage/block/block_reader.h"
#include "storage/tsdb/head.h"
#include "storage/tsdb/series_index.h"
#include "storage/tsdb/store_files.h"

namespace fp::tsdb {

struct LoadedBlock {
  std::unique_ptr<block::BlockReader> reader;
  std::string path;
  std::vector<std::pair<SeriesId, uint32_t>> by_series;  // sorted by id; visible entries only

  const block::BlockMeta& meta() const { return reader->meta(); }
  int64_t partition_end() const { return meta().partition_start + meta().partition_ms; }
  bool is_raw() const { return meta().resolution == block::Resolution::kRaw; }
  const block::Entry* find(SeriesId id) const {
    auto it = std::lower_bound(by_series.begin(), by_series.end(), id,
                               [](const auto& p, SeriesId v) { return p.first < v; });
    if (it == by_series.end() || it->first != id) return nullptr;
    return &reader->entries()[it->second];
  }
};

using BlockList = std::vector<std::shared_ptr<const LoadedBlock>>;

// Sorts by (partition_start, resolution, seq, id).
void sort_blocks(BlockList& blocks);

// False when a tombstone hides `device`'s entries of a block with this seq.
bool visible(const Tombstones& t, std::string_view device, uint64_t seq);

// Maps the entries of `reader` to SeriesIds through `index`: visible entries only; with
// `create`, unknown series are registered (at start), else they are skipped (a device
// removed meanwhile).
std::shared_ptr<const LoadedBlock> make_loaded_block(std::unique_ptr<block::BlockReader> reader,
                                                     std::string path, SeriesIndex& index,
                                                     const Tombstones& tombstones, bool create);

// The points of one raw entry with start <= ts <= end, appended to `out`.
Status append_points(const LoadedBlock& b, const block::Entry& e, int64_t start, int64_t end,
                     std::vector<Sample>& out);

std::string block_file_name(uint64_t id);

// Sorts points gathered from several sources, given oldest source first, by time, keeping
// one point per timestamp: the newest source's.
void merge_newest_wins(std::vector<Sample>& all);

}  // namespace fp::tsdb
