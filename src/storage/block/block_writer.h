#pragma once
// BlockWriter: writes one immutable block file. Entries (one per series) are streamed to a
// temporary file as they are added; finish() appends the index and the checksummed footer,
// fsyncs, and renames the file into place (then fsyncs the directory), so a block either
// exists whole or not at all. A payload is stored zstd-compressed when that saves at least
// a tenth of it. Not thread-safe; one owner.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/block/block_format.h"
#include "storage/fs/file_system.h"
#include "util/result.h"

namespace fp::block {

struct BlockMeta {
  uint64_t id = 0;   // unique per store, also in the file name
  uint64_t seq = 0;  // flush sequence of the newest data inside (tombstones compare to it)
  Resolution resolution = Resolution::kRaw;
  int64_t partition_start = 0;  // ms; the block holds data of [start, start + partition_ms)
  int64_t partition_ms = 0;
  std::vector<uint64_t> replaces;  // ids of the blocks this one supersedes (compaction)
};

struct EntryInfo {
  std::string_view device;
  std::string_view metric;
  int64_t min_ts = 0;
  int64_t max_ts = 0;
  double last_value = 0;  // the value at max_ts
  uint32_t count = 0;     // points or buckets
};

class BlockWriter {
 public:
  // Starts `dir`/`file_name` (written as `file_name`.tmp until finish()).
  static Result<std::unique_ptr<BlockWriter>> create(FileSystem& fs, std::string dir,
                                                     std::string file_name, BlockMeta meta);
  ~BlockWriter();

  Status add(const EntryInfo& info, std::string_view payload);
  // Writes index and footer, makes the file durable and visible. Returns its size in bytes.
  Result<uint64_t> finish();
  size_t entries() const { return entries_; }
  const BlockMeta& meta() const { return meta_; }

 private:
  BlockWriter(FileSystem& fs, std::string dir, std::string file_name, BlockMeta meta,
              std::unique_ptr<WritableFile> file);
  Status flush_buffer();

  FileSystem& fs_;
  const std::string dir_, name_;
  const BlockMeta meta_;
  std::unique_ptr<WritableFile> file_;
  std::string buffer_;  // bytes not yet appended to file_
  std::string index_;   // entries, encoded
  uint64_t offset_ = 0;
  size_t entries_ = 0;
  bool finished_ = false;
};

// Compresses `raw` with zstd when that saves at least 10 %; returns false (and leaves `out`
// alone) when it does not pay.
bool compress_if_pays(std::string_view raw, std::string* out);

}  // namespace fp::block
