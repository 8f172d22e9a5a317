#pragma once
// The WAL record of one ReadingBatch: a compact binary form that replays into the same batch.
//
//   u8  version (1)
//   varint n_devices, then each: varint length, bytes
//   varint n_metrics, then each: varint length, bytes
//   varint n_points, then each: varint device, varint metric, zigzag-varint ts delta from the
//        previous point's ts, 8 bytes value (IEEE 754, little-endian)
//   varint n_attributes, then each: varint device, string key, string value, zigzag ts delta
//
// See docs/formats/wal.md for the framing around it.

#include <string>
#include <string_view>

#include "model/reading_batch.h"
#include "util/result.h"

namespace fp::tsdb {

// Appends the record for `batch` to `out`.
void encode_batch_record(const ReadingBatch& batch, std::string& out);
// Decodes a record into `out` (cleared first). kCorruption when malformed.
Status decode_batch_record(std::string_view record, ReadingBatch& out);

}  // namespace fp::tsdb
