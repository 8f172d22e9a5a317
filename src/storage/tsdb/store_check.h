#pragma once
// Offline verification of a store directory, for `fleetpulse check` and `fleetpulse repair`:
// reads every file the way recovery would — CHECKPOINT and TOMBSTONES (checksums), every WAL
// record (frame, CRC, LSN sequence), every block (footer, index, every chunk's CRC) — without
// changing anything, and lists what it found. The store must not be open meanwhile (the
// caller holds the data directory's LOCK), or it may see writes in progress.

#include <cstdint>
#include <string>
#include <vector>

#include "storage/fs/file_system.h"
#include "util/result.h"

namespace fp::tsdb {

struct CheckFinding {
  std::string file;     // relative to the store directory, e.g. "blocks/0000000000000003.blk"
  std::string problem;  // what is wrong (or, for notes, what is there)
  bool damage = true;   // false: normal or already handled (a torn WAL tail, quarantine)
};

struct CheckReport {
  std::vector<CheckFinding> findings;
  uint64_t blocks = 0, block_entries = 0, wal_segments = 0, wal_records = 0;
  uint64_t quarantined_files = 0;
  bool damaged() const;
};

// Checks the store in `dir` (<data-dir>/tsdb). `partition_ms` is the store's partition width.
// Errors are I/O failures that stop the check itself.
Result<CheckReport> check_store(FileSystem& fs, const std::string& dir, int64_t partition_ms);

}  // namespace fp::tsdb
