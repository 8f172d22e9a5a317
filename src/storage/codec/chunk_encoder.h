#pragma once
// ChunkEncoder: compresses one series' points (timestamp in ms, double value) into a
// self-describing chunk (docs/formats/chunk.md). Timestamps are delta-of-delta coded; values
// are coded as short decimals (value = mantissa / 10^e, e in 0..9, mantissas delta-coded in
// bit-packed blocks) when every value of the chunk is one, else as Gorilla XOR, whichever is
// smaller. Any int64 timestamps (unordered, equal, extreme) and any double bit patterns
// (NaN payloads, infinities, -0.0) round-trip exactly.
//
// Compression is streaming: append() codes the point at once, so the encoder holds about
// the compressed size, not the raw points. Not thread-safe; one owner.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "storage/codec/bit_writer.h"
#include "storage/codec/chunk_format.h"
#include "storage/codec/decimal_block.h"
#include "storage/codec/timestamp_codec.h"
#include "storage/codec/xor_codec.h"

namespace fp::codec {

class ChunkEncoder {
 public:
  // Adds a point after the ones appended so far. Amortised O(1); allocates only when its
  // buffers grow (and once per chunk if the value encoding has to change).
  void append(int64_t ts, double value);

  // Points appended so far.
  size_t count() const { return count_; }

  // The chunk holding every point appended so far. Does not reset the encoder: appending
  // may continue, and a later finish() returns the longer chunk.
  std::string finish() const;

  // Forgets every point; keeps the allocated buffers.
  void clear();

 private:
  void append_decimal(double value, uint64_t bits);
  // Finds a mantissa for `value` by raising the chunk's exponent if needed. False when the
  // chunk can no longer be decimal.
  bool widen_for(double value, int64_t* m);
  bool rescale(int new_exponent);
  void switch_to_xor();
  // Every decimal mantissa appended so far, in order.
  std::vector<int64_t> mantissas() const;
  void rebuild_decimal(const std::vector<int64_t>& all);
  void write_xor_stream(const std::vector<int64_t>& all, XorState* state, BitWriter* out) const;

  size_t count_ = 0;

  // Timestamps: the first one in the header, the rest in ts_bits_.
  int64_t first_ts_ = 0;
  TimestampState ts_state_;
  BitWriter ts_bits_;

  ValueEncoding encoding_ = ValueEncoding::kDecimal;

  // kDecimal: the first mantissa in the header, whole blocks of the others in decimal_bits_,
  // the rest (fewer than a block) in pending_.
  int exponent_ = 0;
  int64_t first_mantissa_ = 0;
  DeltaState block_state_;  // after the last whole block
  BitWriter decimal_bits_;
  std::array<int64_t, kDecimalBlockSize> pending_{};
  size_t pending_count_ = 0;

  // kXor: the value stream. While kDecimal, xor_state_ still follows the values and
  // xor_bit_count_ prices the XOR stream, so finish() can pick the smaller encoding.
  XorState xor_state_;
  BitWriter xor_bits_;
  uint64_t xor_bit_count_ = 0;
};

}  // namespace fp::codec
