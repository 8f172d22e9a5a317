#include "storage/wal/wal_format.h"

#include <cassert>
#include <cstdio>

#include "storage/wal/crc32c.h"

namespace fp::wal {
namespace {

constexpr std::string_view kNamePrefix = "wal-";
constexpr std::string_view kNameSuffix = ".log";
constexpr size_t kLsnHexDigits = 16;

void put_le(uint64_t v, size_t bytes, std::string& out) {
  for (size_t i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

uint64_t get_le(std::string_view in, size_t offset, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = bytes; i-- > 0;) v = (v << 8) | static_cast<uint8_t>(in[offset + i]);
  return v;
}

}  // namespace

std::string segment_file_name(uint64_t first_lsn) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "wal-%016llx.log", static_cast<unsigned long long>(first_lsn));
  return buf;
}

std::optional<uint64_t> parse_segment_file_name(std::string_view name) {
  if (name.size() != kNamePrefix.size() + kLsnHexDigits + kNameSuffix.size()) return std::nullopt;
  if (!name.starts_with(kNamePrefix) || !name.ends_with(kNameSuffix)) return std::nullopt;
  uint64_t lsn = 0;
  for (char c : name.substr(kNamePrefix.size(), kLsnHexDigits)) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    lsn = (lsn << 4) | static_cast<uint64_t>(digit);
  }
  return lsn;
}

void append_segment_header(uint64_t first_lsn, std::string& out) {
  out.append(kSegmentMagic);
  out.push_back(static_cast<char>(kFormatVersion));
  put_le(0, 2, out);
  put_le(first_lsn, 8, out);
}

std::optional<uint64_t> parse_segment_header(std::string_view header) {
  if (header.size() != kSegmentHeaderSize) return std::nullopt;
  if (!header.starts_with(kSegmentMagic)) return std::nullopt;
  if (static_cast<uint8_t>(header[5]) != kFormatVersion) return std::nullopt;
  if (get_le(header, 6, 2) != 0) return std::nullopt;
  return get_le(header, 8, 8);
}

uint32_t record_checksum(uint64_t lsn, std::string_view payload) {
  unsigned char lsn_bytes[8];
  for (size_t i = 0; i < 8; ++i) lsn_bytes[i] = static_cast<unsigned char>((lsn >> (8 * i)) & 0xFF);
  uint32_t crc = crc32c_extend(0, lsn_bytes, sizeof lsn_bytes);
  return crc32c_extend(crc, payload.data(), payload.size());
}

void append_record(uint64_t lsn, std::string_view payload, std::string& out) {
  assert(payload.size() <= kMaxPayloadBytes);
  put_le(payload.size(), 4, out);
  put_le(record_checksum(lsn, payload), 4, out);
  put_le(lsn, 8, out);
  out.append(payload);
}

RecordHeader parse_record_header(std::string_view in) {
  assert(in.size() >= kRecordHeaderSize);
  return {static_cast<uint32_t>(get_le(in, 0, 4)), static_cast<uint32_t>(get_le(in, 4, 4)),
          get_le(in, 8, 8)};
}

}  // namespace fp::wal
