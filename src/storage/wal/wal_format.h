#pragma once
// The on-disk format of the write-ahead log, version 1 (prose spec: docs/formats/wal.md).
// A WAL is a directory of segment files named wal-<first LSN as 16 lowercase hex digits>.log.
// Each segment is a header followed by records, all integers little-endian:
//
//   segment header (16 bytes): "FPWAL" | u8 version = 1 | u16 reserved = 0 | u64 first LSN
//   record (16 + n bytes):     u32 n | u32 CRC-32C of (u64 LSN, payload) | u64 LSN | payload
//
// LSNs start at 1 and increase by one per record across segments with no gaps; the first
// record of a segment carries the LSN in its name. Compatibility: a reader rejects any other
// version; a new version gets a new reader beside this one.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fp::wal {

inline constexpr std::string_view kSegmentMagic = "FPWAL";
inline constexpr uint8_t kFormatVersion = 1;
inline constexpr size_t kSegmentHeaderSize = 16;
inline constexpr size_t kRecordHeaderSize = 16;
// Longest payload a record may carry; a larger length field is corruption.
inline constexpr uint32_t kMaxPayloadBytes = 256u << 20;

// "wal-0000000000000001.log" for first_lsn 1.
std::string segment_file_name(uint64_t first_lsn);
// The first LSN named by a segment file name; std::nullopt for any other name.
std::optional<uint64_t> parse_segment_file_name(std::string_view name);

// Appends the 16-byte segment header to `out`.
void append_segment_header(uint64_t first_lsn, std::string& out);
// The first LSN stored in a segment header; std::nullopt when `header` is not a version 1
// header (wrong size, magic, version or reserved bits).
std::optional<uint64_t> parse_segment_header(std::string_view header);

// The checksum stored in a record: CRC-32C over the LSN (8 bytes LE) then the payload.
uint32_t record_checksum(uint64_t lsn, std::string_view payload);
// Appends one framed record to `out`. payload.size() must be <= kMaxPayloadBytes.
void append_record(uint64_t lsn, std::string_view payload, std::string& out);

struct RecordHeader {
  uint32_t length = 0;
  uint32_t checksum = 0;
  uint64_t lsn = 0;
};
// Decodes the first kRecordHeaderSize bytes of `in` (which must hold at least that many).
RecordHeader parse_record_header(std::string_view in);

}  // namespace fp::wal
