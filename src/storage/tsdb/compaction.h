#pragma once
// Compaction of one sealed time partition: the raw blocks of the partition (flushes, late
// data) are merged into one raw block, newer data winning on equal timestamps and entries
// hidden by tombstones dropped, and its 1-minute and 1-hour rollup blocks are built from the
// merged points. Outputs are written (rollups first, then raw) before anything is removed;
// each names the blocks it replaces, so a crash at any point leaves either the old set or a
// set whose superseded members the next start deletes.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "storage/block/block_reader.h"
#include "storage/fs/file_system.h"
#include "storage/tsdb/block_set.h"
#include "storage/tsdb/store_files.h"
#include "util/result.h"

namespace fp::tsdb {

struct CompactionResult {
  std::vector<std::pair<std::unique_ptr<block::BlockReader>, std::string>> written;  // + path
  std::vector<uint64_t> replaced;  // ids of the input blocks, now superseded
  uint64_t points = 0;
};

// `blocks`: every block of the partition (raw and rollups), sorted as sort_blocks does.
Result<CompactionResult> compact_partition(FileSystem& fs, const std::string& blocks_dir,
                                           const BlockList& blocks, const Tombstones& tombstones,
                                           const std::function<uint64_t()>& next_block_id);

// True when the partition's blocks (sorted) need compacting: several raw blocks, or rollups
// missing or older than the raw data.
bool needs_compaction(const BlockList& partition_blocks);

}  // namespace fp::tsdb
