#pragma once
// BitReader: reads bit fields, most significant bit first, from a byte range it does not own
// (the bytes must outlive the reader). Reading past the end never touches memory outside the
// range: missing bits read as zero and overran() turns true, so a decoder may read a whole
// batch unchecked and test once afterwards.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace fp::codec {

inline uint64_t load_be64(const uint8_t* src) {
  uint64_t v;
  std::memcpy(&v, src, sizeof v);
  if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
  return v;
}

class BitReader {
 public:
  BitReader() = default;
  BitReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  // The next 64 bits without consuming them; bits past the end read as zero.
  uint64_t peek64() const {
    const size_t byte = pos_ >> 3;
    const unsigned shift = static_cast<unsigned>(pos_ & 7);
    uint64_t word;
    uint64_t next;
    if (byte + 9 <= size_) [[likely]] {
      word = load_be64(data_ + byte);
      next = data_[byte + 8];
    } else {
      word = 0;
      for (size_t i = 0; i < 8; ++i) word = (word << 8) | byte_at(byte + i);
      next = byte_at(byte + 8);
    }
    return shift == 0 ? word : (word << shift) | (next >> (8 - shift));
  }

  // Consumes and returns `nbits` bits (0 <= nbits <= 64) as an unsigned number.
  uint64_t read(unsigned nbits) {
    if (nbits == 0) return 0;
    const uint64_t v = peek64() >> (64 - nbits);
    pos_ += nbits;
    return v;
  }
  bool read_bit() { return read(1) != 0; }
  void skip(unsigned nbits) { pos_ += nbits; }

  // Bits consumed so far (may exceed bit_size() after reading past the end).
  uint64_t position() const { return pos_; }
  uint64_t bit_size() const { return uint64_t{size_} * 8; }
  bool overran() const { return pos_ > bit_size(); }

  // True when reading stopped inside the last byte (or exactly at the end) and that byte's
  // remaining padding bits are zero: a well-formed stream has no trailing bytes or bits.
  bool at_clean_end() const {
    if ((pos_ + 7) / 8 != size_) return false;
    const unsigned used = static_cast<unsigned>(pos_ & 7);
    return used == 0 || (data_[size_ - 1] & (0xffu >> used)) == 0;
  }

 private:
  uint64_t byte_at(size_t i) const { return i < size_ ? data_[i] : 0; }

  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  uint64_t pos_ = 0;
};

}  // namespace fp::codec
