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
// The WAL writes its records without attributes (n_attributes 0): a device's attributes live
// in the catalog, which holds a change before its writer is answered, and replay never read
// them; re-logging every batch's unchanged tags took ~40 % of the WAL on tagged line protocol.
// Records that carry attributes still decode.
//
// See docs/formats/wal.md for the framing around it.

#include <string>
#include <string_view>
#include <vector>

#include "model/reading_batch.h"
#include "util/result.h"

namespace fp::tsdb {

// Appends the record for `batch` to `out`; its attributes too unless `with_attributes` is false.
void encode_batch_record(const ReadingBatch& batch, std::string& out, bool with_attributes = true);
// Decodes a record into `out` (cleared first). kCorruption when malformed.
Status decode_batch_record(std::string_view record, ReadingBatch& out);

// A record decoded in place, for WAL replay: names and attribute strings point into the
// record's bytes (valid while they are), and once the vectors have grown decoding allocates
// nothing. Unlike decode_batch_record it does not check that device and metric names are
// distinct; a caller that needs that checks it (ReplayApplier does).
struct BatchRecordView {
  struct AttributeRef {
    uint32_t device;
    std::string_view key, value;
    int64_t ts_ms;
  };
  std::vector<std::string_view> devices;
  std::vector<std::string_view> metrics;
  std::vector<Point> points;
  std::vector<AttributeRef> attributes;
};
// Decodes a record into `out` (cleared first). kCorruption when malformed.
Status decode_batch_record_view(std::string_view record, BatchRecordView& out);

}  // namespace fp::tsdb
