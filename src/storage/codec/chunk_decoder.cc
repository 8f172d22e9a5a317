#include "storage/codec/chunk_decoder.h"

#include <bit>
#include <string>

#include "storage/codec/decimal.h"

namespace fp::codec {

ChunkDecoder::ChunkDecoder(std::string_view chunk) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(chunk.data());
  const uint8_t* const end = p + chunk.size();
  if (p == end) {
    fail("empty chunk");
    return;
  }
  const uint8_t header = *p++;
  if ((header >> 4) != kChunkFormatVersion) {
    fail("unsupported chunk format version");
    return;
  }
  const uint8_t encoding = header & 0x0f;
  if (encoding > static_cast<uint8_t>(ValueEncoding::kDecimal)) {
    fail("unknown value encoding");
    return;
  }
  encoding_ = static_cast<ValueEncoding>(encoding);
  uint64_t count = 0;
  if (!get_uvarint(&p, end, &count)) {
    fail("truncated point count");
    return;
  }
  if (count == 0) {
    if (p != end) fail("bytes after an empty chunk");
    return;
  }
  uint64_t first_ts = 0;
  uint64_t ts_bytes = 0;
  if (!get_uvarint(&p, end, &first_ts) || !get_uvarint(&p, end, &ts_bytes)) {
    fail("truncated timestamp header");
    return;
  }
  if (ts_bytes > static_cast<uint64_t>(end - p)) {
    fail("timestamp stream longer than the chunk");
    return;
  }
  // Every timestamp after the first takes at least one bit.
  if (count - 1 > ts_bytes * 8) {
    fail("point count larger than the timestamp stream allows");
    return;
  }
  first_ts_ = static_cast<int64_t>(unzigzag(first_ts));
  ts_reader_ = BitReader(p, ts_bytes);
  p += ts_bytes;
  uint64_t min_value_bits = 0;
  if (encoding_ == ValueEncoding::kDecimal) {
    if (p == end || *p > kMaxDecimalExponent) {
      fail("bad decimal exponent");
      return;
    }
    exponent_ = *p++;
    uint64_t m0 = 0;
    if (!get_uvarint(&p, end, &m0)) {
      fail("truncated first mantissa");
      return;
    }
    first_mantissa_ = static_cast<int64_t>(unzigzag(m0));
    if (first_mantissa_ > kMaxDecimalMantissa || first_mantissa_ < -kMaxDecimalMantissa) {
      fail("first mantissa out of range");
      return;
    }
    min_value_bits = (count - 1 + kDecimalBlockSize - 1) / kDecimalBlockSize * kBlockHeaderBits;
  } else {
    min_value_bits = 64 + (count - 1);
  }
  value_reader_ = BitReader(p, static_cast<size_t>(end - p));
  if (min_value_bits > value_reader_.bit_size()) {
    fail("point count larger than the value stream allows");
    return;
  }
  count_ = count;
}

bool ChunkDecoder::holds_timestamp(int64_t ts) const {
  if (count_ == 0) return false;
  if (first_ts_ == ts) return true;
  BitReader reader = ts_reader_;
  TimestampState state{static_cast<uint64_t>(first_ts_), 0};
  int64_t buffer[kDecimalBlockSize];
  for (uint64_t left = count_ - 1; left > 0 && !reader.overran();) {
    const size_t n = left < kDecimalBlockSize ? static_cast<size_t>(left) : kDecimalBlockSize;
    decode_timestamps(&reader, n, &state, buffer);
    for (size_t i = 0; i < n; ++i)
      if (buffer[i] == ts) return !reader.overran();
    left -= n;
  }
  return false;
}

bool ChunkDecoder::fail(const char* what) {
  if (status_.ok()) status_ = Status::Corruption(std::string("chunk: ") + what);
  count_ = 0;
  buffer_pos_ = buffer_len_ = 0;
  return false;
}

bool ChunkDecoder::refill() {
  if (decoded_ == count_ || !status_.ok()) return false;
  size_t n = 0;
  if (decoded_ == 0) {
    // The first point stands alone: its timestamp and (decimal) mantissa are in the header.
    n = 1;
    ts_buffer_[0] = first_ts_;
    ts_state_ = {static_cast<uint64_t>(first_ts_), 0};
    if (encoding_ == ValueEncoding::kDecimal) {
      value_buffer_[0] = decimal_value(first_mantissa_, exponent_);
      delta_state_ = {static_cast<uint64_t>(first_mantissa_), 0};
    } else {
      xor_state_ = {};
      xor_state_.prev = value_reader_.read(64);
      value_buffer_[0] = std::bit_cast<double>(xor_state_.prev);
    }
  } else {
    const uint64_t left = count_ - decoded_;
    n = left < kDecimalBlockSize ? static_cast<size_t>(left) : kDecimalBlockSize;
    decode_timestamps(&ts_reader_, n, &ts_state_, ts_buffer_);
    if (encoding_ == ValueEncoding::kDecimal) {
      decode_decimal_block(&value_reader_, n, &delta_state_, mantissa_buffer_);
      const double scale = kPow10[exponent_];
      for (size_t i = 0; i < n; ++i) {
        value_buffer_[i] = static_cast<double>(mantissa_buffer_[i]) / scale;
      }
    } else if (!decode_xor(&value_reader_, n, &xor_state_, value_buffer_)) {
      return fail("invalid XOR control bits");
    }
  }
  if (ts_reader_.overran()) return fail("truncated timestamp stream");
  if (value_reader_.overran()) return fail("truncated value stream");
  decoded_ += n;
  if (decoded_ == count_) {
    if (!ts_reader_.at_clean_end()) return fail("trailing bits after the timestamps");
    if (!value_reader_.at_clean_end()) return fail("trailing bits after the values");
  }
  buffer_pos_ = 0;
  buffer_len_ = n;
  return true;
}

Result<std::vector<std::pair<int64_t, double>>> decode_chunk(std::string_view chunk) {
  ChunkDecoder decoder(chunk);
  std::vector<std::pair<int64_t, double>> points;
  points.reserve(decoder.count());
  int64_t ts = 0;
  double value = 0;
  while (decoder.next(ts, value)) points.emplace_back(ts, value);
  if (!decoder.status().ok()) return decoder.status();
  return points;
}

}  // namespace fp::codec
