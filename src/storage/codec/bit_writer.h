#pragma once
// BitWriter: appends bit fields, most significant bit first, to a growable byte buffer.
// Bits are gathered in a 64-bit accumulator and stored a whole big-endian word at a time,
// so a write is a few register operations. Not thread-safe; one owner.

#include <bit>
#include <cassert>
#include <cstdint>
#include <cstring>
#include <string>

namespace fp::codec {

inline void store_be64(char* dst, uint64_t v) {
  if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
  std::memcpy(dst, &v, sizeof v);
}

class BitWriter {
 public:
  // Appends the low `nbits` bits of `value`, 0 <= nbits <= 64. The bits of `value` above
  // `nbits` must be zero.
  void write(uint64_t value, unsigned nbits) {
    assert(nbits <= 64);
    assert(nbits == 64 || (value >> nbits) == 0);
    const unsigned room = 64 - fill_;  // 1..64
    if (nbits < room) {
      acc_ = (acc_ << nbits) | value;
      fill_ += nbits;
      return;
    }
    // The accumulator fills up: emit it and keep the `rest` low bits of value.
    const unsigned rest = nbits - room;  // 0..63
    const uint64_t word = room == 64 ? value : (acc_ << room) | (value >> rest);
    char bytes[8];
    store_be64(bytes, word);
    bytes_.append(bytes, sizeof bytes);
    acc_ = rest == 0 ? 0 : value & ((uint64_t{1} << rest) - 1);
    fill_ = rest;
  }

  void write_bit(bool bit) { write(bit ? 1 : 0, 1); }

  uint64_t bit_count() const { return uint64_t{bytes_.size()} * 8 + fill_; }
  size_t byte_count() const { return bytes_.size() + (fill_ + 7) / 8; }

  // Appends the bits written so far to *out, the last byte padded with zero bits.
  void append_to(std::string* out) const {
    out->append(bytes_);
    if (fill_ == 0) return;
    char bytes[8];
    store_be64(bytes, acc_ << (64 - fill_));
    out->append(bytes, (fill_ + 7) / 8);
  }

  void clear() {
    bytes_.clear();
    acc_ = 0;
    fill_ = 0;
  }
  void reserve_bytes(size_t n) { bytes_.reserve(n); }

 private:
  std::string bytes_;  // whole 64-bit words written so far
  uint64_t acc_ = 0;   // the last `fill_` bits, right-aligned; always < 64 of them
  unsigned fill_ = 0;
};

// Counts the bits a BitWriter would take; lets one encoder body price an alternative.
class BitCounter {
 public:
  void write(uint64_t /*value*/, unsigned nbits) { bits_ += nbits; }
  void write_bit(bool /*bit*/) { ++bits_; }
  uint64_t bit_count() const { return bits_; }

 private:
  uint64_t bits_ = 0;
};

}  // namespace fp::codec
