#pragma once
// The on-disk format of the KPI activity journal, version 1 (prose spec:
// docs/formats/kpi-activity.md). The file <data-dir>/kpi/activity.journal is an 8-byte header
// followed by framed records, all integers little-endian:
//
//   header (8 bytes):  "FPKPIA" | u8 version = 1 | u8 reserved = 0
//   record (8 + n):    u32 n | u32 CRC-32C of the payload | payload (n bytes, 3 <= n <= 4096)
//   payload:           u8 type | u16 device id length | device id | fields of the type
//     1 totals    i64 at_ms | u64 messages | u64 bytes | u64 rejected   (added to at_ms's hour)
//     2 response  i64 at_ms | f64 milliseconds                           (one sample)
//     3 battery   i64 at_ms | f64 level                                  (one sample)
//     4 forget    (no fields: the device's activity is dropped)
//     5 clear     (empty device id, no fields: every device's activity is dropped)
//
// Replaying the records in order through DeviceActivityLog rebuilds its state exactly.
// Compatibility: a reader rejects any other version; a new version gets a new reader.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace fp {

inline constexpr std::string_view kActivityJournalHeader{"FPKPIA\x01\x00", 8};
inline constexpr size_t kActivityFrameHeaderSize = 8;
inline constexpr uint32_t kMaxActivityPayloadBytes = 4096;
// Longest device id a record carries; longer ids are cut (they never come from the API).
inline constexpr size_t kMaxActivityDeviceBytes = 1024;

enum class ActivityRecordType : uint8_t {
  kTotals = 1,
  kResponse = 2,
  kBattery = 3,
  kForget = 4,
  kClear = 5,
};

struct ActivityRecord {
  ActivityRecordType type = ActivityRecordType::kTotals;
  std::string device;
  int64_t at_ms = 0;
  uint64_t messages = 0;  // kTotals
  uint64_t bytes = 0;     // kTotals
  uint64_t rejected = 0;  // kTotals
  double value = 0;       // kResponse: milliseconds; kBattery: level
};

// Appends one framed record to `out`.
void append_activity_record(const ActivityRecord& r, std::string& out);

struct ActivityDecodeResult {
  size_t valid_bytes = 0;  // length of the prefix made of whole, valid records
  size_t records = 0;
  bool clean = true;  // false when bytes after valid_bytes are torn or corrupt
};
// Decodes the records of `data` (the bytes after the header) in order, calling fn for each;
// stops at the first record that is torn, fails its checksum or is malformed.
ActivityDecodeResult decode_activity_records(std::string_view data,
                                             const std::function<void(const ActivityRecord&)>& fn);

}  // namespace fp
