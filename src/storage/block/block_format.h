#pragma once
// The on-disk layout of a block file (docs/formats/block.md is the reference). Shared by
// BlockWriter and BlockReader; changing anything here changes the format version.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace fp::block {

inline constexpr std::string_view kHeaderMagic{"FPBLOCK\0", 8};
inline constexpr std::string_view kFooterMagic{"FPBE", 4};
inline constexpr uint16_t kVersion = 1;
inline constexpr size_t kHeaderBytes = 16;
inline constexpr size_t kFooterBytes = 64;
// Payloads and indexes larger than this are refused when reading (a corrupt length must not
// make anyone allocate gigabytes).
inline constexpr uint32_t kMaxRawBytes = 256u << 20;

// What a block holds: raw points, or rollup buckets of one width.
enum class Resolution : uint8_t { kRaw = 0, kMinute = 1, kHour = 2 };

inline constexpr int64_t resolution_ms(Resolution r) {
  return r == Resolution::kMinute ? 60'000 : r == Resolution::kHour ? 3'600'000 : 0;
}
std::string_view to_string(Resolution r);

// Fixed-width little-endian fields (x86-64 and aarch64 are little-endian; memcpy keeps it
// alignment-safe).
template <typename T>
inline void put_fixed(std::string* out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out->append(b, sizeof(T));
}
template <typename T>
inline T get_fixed(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace fp::block
