#pragma once
// ChunkDecoder: reads back the points of a chunk written by ChunkEncoder, in append order.
// Corrupt or truncated input is reported, never trusted: the decoder reads only inside the
// given bytes, stops after the declared point count (which is checked against the input
// size up front, so it cannot make anyone allocate more than ~128x the input), and turns
// status() into kCorruption. Points returned before that are a prefix of what the chunk
// decodes to; a batch is returned only once all its bits were inside the input.
//
// The bytes must outlive the decoder. Not thread-safe; one owner.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/codec/bit_reader.h"
#include "storage/codec/chunk_format.h"
#include "storage/codec/decimal_block.h"
#include "storage/codec/timestamp_codec.h"
#include "storage/codec/xor_codec.h"
#include "util/result.h"

namespace fp::codec {

class ChunkDecoder {
 public:
  explicit ChunkDecoder(std::string_view chunk);

  // The next point in append order. False at the end of the chunk or on corruption; then
  // status() tells which.
  bool next(int64_t& ts, double& value) {
    if (buffer_pos_ == buffer_len_ && !refill()) [[unlikely]] {
      return false;
    }
    ts = ts_buffer_[buffer_pos_];
    value = value_buffer_[buffer_pos_];
    ++buffer_pos_;
    return true;
  }

  // Ok, or kCorruption once the input was found truncated or malformed.
  const Status& status() const { return status_; }

  // Whether some point is at `ts`, from the timestamps alone (no value is decoded). Call it
  // before next(), which it does not disturb.
  bool holds_timestamp(int64_t ts) const;

  // Points the header declares (0 when the header itself is corrupt).
  uint64_t count() const { return count_; }
  ValueEncoding value_encoding() const { return encoding_; }

 private:
  // Decodes the next batch into the buffers. False at the end or on corruption.
  bool refill();
  bool fail(const char* what);

  uint64_t count_ = 0;
  uint64_t decoded_ = 0;  // points decoded into the buffers so far
  ValueEncoding encoding_ = ValueEncoding::kXor;
  int exponent_ = 0;
  int64_t first_ts_ = 0;
  int64_t first_mantissa_ = 0;
  BitReader ts_reader_;
  BitReader value_reader_;
  TimestampState ts_state_;
  DeltaState delta_state_;
  XorState xor_state_;
  Status status_;

  size_t buffer_pos_ = 0;
  size_t buffer_len_ = 0;
  int64_t ts_buffer_[kDecimalBlockSize];
  double value_buffer_[kDecimalBlockSize];
  int64_t mantissa_buffer_[kDecimalBlockSize];
};

// Decodes a whole chunk; kCorruption if any of it is truncated or malformed.
Result<std::vector<std::pair<int64_t, double>>> decode_chunk(std::string_view chunk);

}  // namespace fp::codec
