#include "storage/codec/chunk_encoder.h"

#include <bit>

#include "storage/codec/bit_reader.h"
#include "storage/codec/decimal.h"

namespace fp::codec {

void ChunkEncoder::append(int64_t ts, double value) {
  const uint64_t bits = std::bit_cast<uint64_t>(value);
  if (count_ == 0) {
    first_ts_ = ts;
    ts_state_ = {static_cast<uint64_t>(ts), 0};
    xor_state_ = {};
    xor_state_.prev = bits;
    int64_t m = 0;
    const int e = smallest_decimal_exponent(value, 0, &m);
    if (e >= 0) {
      encoding_ = ValueEncoding::kDecimal;
      exponent_ = e;
      first_mantissa_ = m;
      block_state_ = {static_cast<uint64_t>(m), 0};
      xor_bit_count_ = 64;
    } else {
      encoding_ = ValueEncoding::kXor;
      xor_bits_.write(bits, 64);
    }
    count_ = 1;
    return;
  }
  encode_timestamp(static_cast<uint64_t>(ts), &ts_state_, &ts_bits_);
  if (encoding_ == ValueEncoding::kDecimal) {
    append_decimal(value, bits);
  } else {
    encode_xor(bits, &xor_state_, &xor_bits_);
  }
  ++count_;
}

void ChunkEncoder::append_decimal(double value, uint64_t bits) {
  int64_t m = 0;
  if (!decimal_mantissa(value, exponent_, &m) && !widen_for(value, &m)) {
    switch_to_xor();
    encode_xor(bits, &xor_state_, &xor_bits_);
    return;
  }
  BitCounter counter;
  encode_xor(bits, &xor_state_, &counter);
  xor_bit_count_ += counter.bit_count();
  pending_[pending_count_++] = m;
  if (pending_count_ == kDecimalBlockSize) {
    encode_decimal_block(pending_.data(), pending_count_, &block_state_, &decimal_bits_);
    pending_count_ = 0;
  }
}

bool ChunkEncoder::widen_for(double value, int64_t* m) {
  int64_t own = 0;
  const int e = smallest_decimal_exponent(value, 0, &own);
  if (e < 0) return false;
  if (e > exponent_) {
    if (!rescale(e)) return false;
    *m = own;
    return true;
  }
  // Decimal at a smaller exponent, but its mantissa is too close to 2^53 for the fast test at
  // the chunk's exponent; scale it exactly.
  const int64_t factor = kIntPow10[exponent_ - e];
  if (own > kMaxDecimalMantissa / factor || own < -kMaxDecimalMantissa / factor) return false;
  *m = own * factor;
  return true;
}

bool ChunkEncoder::rescale(int new_exponent) {
  std::vector<int64_t> all = mantissas();
  const int64_t factor = kIntPow10[new_exponent - exponent_];
  const int64_t limit = kMaxDecimalMantissa / factor;
  for (int64_t m : all) {
    if (m > limit || m < -limit) return false;
  }
  // m / 10^e and m * 10^k / 10^(e+k) are the same real number, so each value still decodes
  // to the same double.
  for (int64_t& m : all) m *= factor;
  exponent_ = new_exponent;
  rebuild_decimal(all);
  return true;
}

void ChunkEncoder::rebuild_decimal(const std::vector<int64_t>& all) {
  first_mantissa_ = all[0];
  block_state_ = {static_cast<uint64_t>(all[0]), 0};
  decimal_bits_.clear();
  size_t i = 1;
  for (; all.size() - i > kDecimalBlockSize; i += kDecimalBlockSize) {
    encode_decimal_block(&all[i], kDecimalBlockSize, &block_state_, &decimal_bits_);
  }
  // Keep the block boundaries where append() expects them: a full tail becomes a block.
  pending_count_ = all.size() - i;
  for (size_t j = 0; j < pending_count_; ++j) pending_[j] = all[i + j];
  if (pending_count_ == kDecimalBlockSize) {
    encode_decimal_block(pending_.data(), pending_count_, &block_state_, &decimal_bits_);
    pending_count_ = 0;
  }
}

void ChunkEncoder::switch_to_xor() {
  const std::vector<int64_t> all = mantissas();
  xor_bits_.clear();
  write_xor_stream(all, &xor_state_, &xor_bits_);
  encoding_ = ValueEncoding::kXor;
  decimal_bits_ = BitWriter();
  pending_count_ = 0;
}

std::vector<int64_t> ChunkEncoder::mantissas() const {
  std::vector<int64_t> all;
  if (count_ == 0) return all;
  all.reserve(count_);
  all.push_back(first_mantissa_);
  const size_t in_blocks = count_ - 1 - pending_count_;
  if (in_blocks > 0) {
    std::string bytes;
    decimal_bits_.append_to(&bytes);
    BitReader reader(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    DeltaState state{static_cast<uint64_t>(first_mantissa_), 0};
    int64_t block[kDecimalBlockSize];
    for (size_t done = 0; done < in_blocks; done += kDecimalBlockSize) {
      decode_decimal_block(&reader, kDecimalBlockSize, &state, block);
      all.insert(all.end(), block, block + kDecimalBlockSize);
    }
  }
  all.insert(all.end(), pending_.begin(),
             pending_.begin() + static_cast<ptrdiff_t>(pending_count_));
  return all;
}

void ChunkEncoder::write_xor_stream(const std::vector<int64_t>& all, XorState* state,
                                    BitWriter* out) const {
  *state = {};
  state->prev = std::bit_cast<uint64_t>(decimal_value(all[0], exponent_));
  out->write(state->prev, 64);
  for (size_t i = 1; i < all.size(); ++i) {
    encode_xor(std::bit_cast<uint64_t>(decimal_value(all[i], exponent_)), state, out);
  }
}

std::string ChunkEncoder::finish() const {
  std::string out;
  if (count_ == 0) {
    out.push_back(static_cast<char>(chunk_header_byte(ValueEncoding::kXor)));
    put_uvarint(&out, 0);
    return out;
  }
  ValueEncoding encoding = encoding_;
  uint64_t decimal_bytes = 0;
  if (encoding == ValueEncoding::kDecimal) {
    const uint64_t pending_bits =
        pending_count_ == 0 ? 0 : decimal_block_bits(pending_.data(), pending_count_, block_state_);
    decimal_bytes = 1 + uvarint_size(zigzag(static_cast<uint64_t>(first_mantissa_))) +
                    (decimal_bits_.bit_count() + pending_bits + 7) / 8;
    if ((xor_bit_count_ + 7) / 8 < decimal_bytes) encoding = ValueEncoding::kXor;
  }
  const uint64_t value_bytes = encoding_ == ValueEncoding::kXor  ? xor_bits_.byte_count()
                               : encoding == ValueEncoding::kXor ? (xor_bit_count_ + 7) / 8
                                                                 : decimal_bytes;
  out.reserve(1 + 3 * 10 + ts_bits_.byte_count() + value_bytes);
  out.push_back(static_cast<char>(chunk_header_byte(encoding)));
  put_uvarint(&out, count_);
  put_uvarint(&out, zigzag(static_cast<uint64_t>(first_ts_)));
  put_uvarint(&out, ts_bits_.byte_count());
  ts_bits_.append_to(&out);
  if (encoding_ == ValueEncoding::kXor) {
    xor_bits_.append_to(&out);
  } else if (encoding == ValueEncoding::kXor) {
    BitWriter stream;
    XorState state;
    write_xor_stream(mantissas(), &state, &stream);
    stream.append_to(&out);
  } else {
    out.push_back(static_cast<char>(exponent_));
    put_uvarint(&out, zigzag(static_cast<uint64_t>(first_mantissa_)));
    if (pending_count_ == 0) {
      decimal_bits_.append_to(&out);
    } else {
      BitWriter stream = decimal_bits_;
      DeltaState state = block_state_;
      encode_decimal_block(pending_.data(), pending_count_, &state, &stream);
      stream.append_to(&out);
    }
  }
  return out;
}

void ChunkEncoder::clear() {
  count_ = 0;
  first_ts_ = 0;
  ts_state_ = {};
  ts_bits_.clear();
  encoding_ = ValueEncoding::kDecimal;
  exponent_ = 0;
  first_mantissa_ = 0;
  block_state_ = {};
  decimal_bits_.clear();
  pending_count_ = 0;
  xor_state_ = {};
  xor_bits_.clear();
  xor_bit_count_ = 0;
}

}  // namespace fp::codec
