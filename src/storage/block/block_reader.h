#pragma once
// BlockReader: an open block file. open() maps the file and checks the header, the footer's
// checksum and the index's checksum, and parses the index; a payload's own checksum is
// checked each time it is read. open() leaves none of the file's pages resident in the
// process (parsing touched them; a block written during ingest would otherwise stay in RSS).
// Anything malformed is kCorruption, never trusted: every offset and length is checked against the
// file before use.
//
// Thread safety: immutable after open(); any thread may read.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "storage/block/block_writer.h"
#include "storage/fs/file_system.h"
#include "util/result.h"

namespace fp::block {

// Device and metric names of one block, each stored once (a block names every device once per
// metric): entries point at them. Element addresses are stable (node-based set).
class NameTable {
 public:
  std::string_view intern(std::string_view name);

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_set<std::string, Hash, std::equal_to<>> names_;
};

// One series of a block. `device` and `metric` point into the reader's NameTable: an Entry is
// valid only while its BlockReader lives (80 bytes: loaded blocks keep one per series).
struct Entry {
  std::string_view device;
  std::string_view metric;
  int64_t min_ts = 0;
  int64_t max_ts = 0;
  double last_value = 0;
  uint64_t offset = 0;
  uint32_t count = 0;
  uint32_t stored_len = 0;
  uint32_t raw_len = 0;  // 0: stored uncompressed
  uint32_t crc = 0;
};

class BlockReader {
 public:
  static Result<std::unique_ptr<BlockReader>> open(FileSystem& fs, const std::string& path);
  // Parses a block already in memory (the fuzz target uses this). With trust_footer = false
  // (salvage of a damaged block) the footer's magic and checksum and the header are not
  // required: only the index it points at must match its checksum; meta() is then as the
  // footer says, unverified.
  static Result<std::unique_ptr<BlockReader>> parse(std::shared_ptr<const MappedFile> file,
                                                    bool trust_footer = true);

  const BlockMeta& meta() const { return meta_; }
  const std::vector<Entry>& entries() const { return entries_; }
  uint64_t file_bytes() const { return file_->bytes().size(); }
  // The entry's payload, checksum verified and decompressed.
  Result<std::string> payload(const Entry& e) const;
  // Checks only the entry's stored bytes against its checksum (no decompression).
  Status verify(const Entry& e) const;
  // Drops the file's pages that reads (checksums, payloads) brought into this process' RSS
  // (MappedFile::release_resident); later reads fault them back in. Any thread, any time.
  void release_resident() const { file_->release_resident(); }

 private:
  explicit BlockReader(std::shared_ptr<const MappedFile> file) : file_(std::move(file)) {}
  Status parse_index(std::string_view index);

  std::shared_ptr<const MappedFile> file_;
  BlockMeta meta_;
  NameTable names_;
  std::vector<Entry> entries_;
};

}  // namespace fp::block
