#pragma once
// The applied checkpoint: per partition, the highest stream sequence this node has made
// durable in its embedded engine (every message up to it was acknowledged by the local
// Ingestor, i.e. is in the WAL). Kept in <data-dir>/cluster/applied: written to a temporary
// file, fsynced and renamed over the old one, so a kill -9 leaves the old or the new file.
// Because it is written only after the Ingestor's acknowledgement it never runs ahead of the
// data; after a crash a partition is replayed from checkpoint + 1 and the few messages
// applied twice change nothing (docs/cluster.md, "Apply").
//
// Format (text): first line "fleetpulse-applied v1 partitions=<N>", then "<partition> <seq>"
// lines. A damaged file is refused (the caller starts those partitions from the stream's
// beginning, which is always correct, only slower).

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "util/result.h"

namespace fp::cluster {

struct AppliedCheckpoint {
  uint32_t partitions = 0;
  std::map<uint32_t, uint64_t> applied;  // partition -> stream sequence
};

std::string FormatCheckpoint(const AppliedCheckpoint& c);
// kMalformed when `text` is not exactly a checkpoint of the format above.
Result<AppliedCheckpoint> ParseCheckpoint(std::string_view text);

// Reads `path`; an absent file is an empty checkpoint for `partitions`.
Result<AppliedCheckpoint> LoadCheckpoint(const std::string& path, uint32_t partitions);
// Durably replaces `path` (temporary file, fsync, rename, fsync of the directory).
Status SaveCheckpoint(const std::string& path, const AppliedCheckpoint& c);

}  // namespace fp::cluster
