#pragma once
// The small state files of a store directory, each written whole by tmp + fsync + rename:
// CHECKPOINT (the WAL position up to which everything is in blocks) and TOMBSTONES (devices
// whose older blocks must stay hidden). Both carry a CRC32C; a bad one is kCorruption.

#include <cstdint>
#include <map>
#include <string>

#include "storage/fs/file_system.h"
#include "util/result.h"

namespace fp::tsdb {

struct Checkpoint {
  uint64_t lsn = 1;  // replay the WAL from here
  uint64_t seq = 0;  // blocks from flushes with seq <= this are complete
};

// A tombstone hides the blocks with seq < its value: for one device, or ("" key) for all.
using Tombstones = std::map<std::string, uint64_t, std::less<>>;

Result<Checkpoint> read_checkpoint(FileSystem& fs, const std::string& dir);  // default if absent
Status write_checkpoint(FileSystem& fs, const std::string& dir, const Checkpoint& c);
Result<Tombstones> read_tombstones(FileSystem& fs, const std::string& dir);
Status write_tombstones(FileSystem& fs, const std::string& dir, const Tombstones& t);

// Writes `bytes` to dir/name durably and atomically (tmp file, fsync, rename, fsync dir).
Status write_file_atomically(FileSystem& fs, const std::string& dir, const std::string& name,
                             std::string_view bytes);

}  // namespace fp::tsdb
