#pragma once
// Salvage of a block file that does not read cleanly: what of it can still be trusted. Used
// at start (a damaged block is re-sealed from its readable entries and moved to quarantine),
// by `fleetpulse check` (which names what is damaged) and by `fleetpulse repair`.
//
// Trust comes only from checksums: the footer from its CRC; the index from its CRC (a damaged
// footer is read anyway, and its index position is believed only if the index it points at
// matches its checksum); each entry from its payload CRC. Nothing is guessed beyond that.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "storage/block/block_reader.h"

namespace fp::block {

struct BlockSalvage {
  std::unique_ptr<BlockReader> reader;  // null when the index cannot be read
  bool footer_ok = false;               // footer magic and checksum match
  // meta.partition_start/partition_ms are known: from a sound footer, or from a damaged one
  // whose values agree with every entry, or derived from the entries and `partition_ms`.
  bool range_known = false;
  BlockMeta meta;              // resolution/seq/id: the footer's (unverified if damaged)
  std::vector<uint32_t> good;  // entries of `reader` whose payload verifies
  std::vector<uint32_t> lost;  // entries whose payload does not
  std::string problem;         // the first defect found; empty when the block is whole
  bool whole() const { return problem.empty(); }
};

// Reads `file` as far as checksums allow. `partition_ms` is the store's partition width, used
// when the footer's own values cannot be trusted. Never fails: an unreadable file gives a
// salvage with no reader.
BlockSalvage salvage_block(std::shared_ptr<const MappedFile> file, int64_t partition_ms);

}  // namespace fp::block
