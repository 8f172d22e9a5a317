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
// A series gets a rollup entry of a width only where it pays: when its points outnumber its
// buckets of that width at least 32 to 1 (else the rollup costs about as much disk as the raw
// points and saves little reading), or always
// with `always_rollup` (raw retention is set, so the raw points will go).
Result<CompactionResult> compact_partition(FileSystem& fs, const std::string& blocks_dir,
                                           const BlockList& blocks, const Tombstones& tombstones,
                                           const std::function<uint64_t()>& next_block_id,
                                           bool always_rollup);

// True when the partition's blocks (sorted) need compacting: several raw blocks, or rollups
// missing or older than the raw data.
bool needs_compaction(const BlockList& partition_blocks);

// True when the partition has one raw block and rollup blocks of both widths with an entry
// for each of its series.
bool rollups_complete(const BlockList& partition_blocks);

}  // namespace fp::tsdb
