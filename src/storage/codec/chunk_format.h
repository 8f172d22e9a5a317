#pragma once
// On-disk constants of the chunk format (docs/formats/chunk.md) and the byte-level helpers
// both sides share: zigzag mapping and LEB128 varints. Changing anything here changes the
// format: bump kChunkFormatVersion and keep a reader for the old version.

#include <cstddef>
#include <cstdint>
#include <string>

namespace fp::codec {

// Header byte: version in the high nibble, value encoding in the low nibble.
inline constexpr uint8_t kChunkFormatVersion = 1;

enum class ValueEncoding : uint8_t {
  kXor = 0,      // Gorilla XOR of the IEEE-754 bit patterns; any double, bit-exact
  kDecimal = 1,  // value = mantissa / 10^exponent, mantissas delta-coded in bit-packed blocks
};

inline constexpr uint8_t chunk_header_byte(ValueEncoding e) {
  return static_cast<uint8_t>((kChunkFormatVersion << 4) | static_cast<uint8_t>(e));
}

// Residuals of points 1..n-1 of a decimal chunk are coded in blocks of this many.
inline constexpr size_t kDecimalBlockSize = 64;
// Block header: [sparse:1][order2:1][width:6].
inline constexpr unsigned kBlockHeaderBits = 8;
inline constexpr unsigned kBlockSparseFlag = 0x80;
inline constexpr unsigned kBlockOrder2Flag = 0x40;
inline constexpr unsigned kBlockWidthMask = 0x3f;

// Maps a two's-complement value (held in a uint64_t) to 0, -1 -> 1, 1 -> 2, -2 -> 3, ...
inline constexpr uint64_t zigzag(uint64_t x) {
  return (x << 1) ^ (uint64_t{0} - (x >> 63));
}
inline constexpr uint64_t unzigzag(uint64_t z) {
  return (z >> 1) ^ (uint64_t{0} - (z & 1));
}

// Number of significant bits of x (0 for 0).
inline constexpr unsigned bit_width64(uint64_t x) {
  return x == 0 ? 0 : 64 - static_cast<unsigned>(__builtin_clzll(x));
}

inline void put_uvarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

inline size_t uvarint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Reads a varint from [*p, end); advances *p. False when truncated or longer than 64 bits.
inline bool get_uvarint(const uint8_t** p, const uint8_t* end, uint64_t* v) {
  uint64_t result = 0;
  for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
    const uint8_t byte = *(*p)++;
    if (shift == 63 && byte > 1) return false;  // bits beyond 64
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

}  // namespace fp::codec
