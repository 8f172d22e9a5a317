#pragma once
// CRC-32C (Castagnoli polynomial 0x1EDC6F41, reflected, initial value and final xor
// 0xFFFFFFFF), the checksum of iSCSI, ext4 and LevelDB. Uses the SSE4.2 crc32 instruction
// when the CPU has it (checked once at run time) and a slicing-by-8 table otherwise; both give
// the same values. Thread-safe.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace fp {

// The CRC-32C of the bytes whose CRC-32C is `crc` followed by `data[0, n)`:
// crc32c_extend(crc32c(a), b) == crc32c(a + b), and crc32c_extend(0, ...) starts afresh.
uint32_t crc32c_extend(uint32_t crc, const void* data, size_t n);

inline uint32_t crc32c(std::string_view data) {
  return crc32c_extend(0, data.data(), data.size());
}

namespace crc32c_internal {
// The two implementations behind crc32c_extend, exposed for tests and benchmarks.
uint32_t extend_software(uint32_t crc, const void* data, size_t n);
// Only valid when hardware_available(); falls back to software on other architectures.
uint32_t extend_hardware(uint32_t crc, const void* data, size_t n);
bool hardware_available();
}  // namespace crc32c_internal

}  // namespace fp
