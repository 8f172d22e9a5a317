#pragma once
// Timestamps of a chunk after the first: delta-of-delta in Gorilla-style prefix buckets
// (docs/formats/chunk.md). All arithmetic is modulo 2^64, so any int64 sequence round-trips:
// decreasing, equal, or jumping between INT64_MIN and INT64_MAX.
//
//   zigzag(dod) == 0        '0'
//               < 2^8      '10'    + 8 bits
//               < 2^14     '110'   + 14 bits
//               < 2^24     '1110'  + 24 bits
//               < 2^36     '11110' + 36 bits
//               otherwise  '11111' + 64 bits

#include <cstddef>
#include <cstdint>

#include "storage/codec/bit_reader.h"
#include "storage/codec/bit_writer.h"
#include "storage/codec/chunk_format.h"

namespace fp::codec {

struct TimestampState {
  uint64_t prev_ts = 0;     // the previous timestamp, two's complement
  uint64_t prev_delta = 0;  // the previous delta; 0 before the second point
};

inline void encode_timestamp(uint64_t ts, TimestampState* s, BitWriter* w) {
  const uint64_t delta = ts - s->prev_ts;
  const uint64_t zz = zigzag(delta - s->prev_delta);
  s->prev_ts = ts;
  s->prev_delta = delta;
  if (zz == 0) {
    w->write(0, 1);
  } else if (zz < (uint64_t{1} << 8)) {
    w->write((uint64_t{0b10} << 8) | zz, 2 + 8);
  } else if (zz < (uint64_t{1} << 14)) {
    w->write((uint64_t{0b110} << 14) | zz, 3 + 14);
  } else if (zz < (uint64_t{1} << 24)) {
    w->write((uint64_t{0b1110} << 24) | zz, 4 + 24);
  } else if (zz < (uint64_t{1} << 36)) {
    w->write((uint64_t{0b11110} << 36) | zz, 5 + 36);
  } else {
    w->write(0b11111, 5);
    w->write(zz, 64);
  }
}

// Decodes the next n timestamps into out. Never fails by itself: a truncated stream reads
// zero bits, which the caller detects with r->overran().
inline void decode_timestamps(BitReader* r, size_t n, TimestampState* s, int64_t* out) {
  uint64_t ts = s->prev_ts;
  uint64_t delta = s->prev_delta;
  size_t i = 0;
  while (i < n) {
    const uint64_t w = r->peek64();
    if ((w >> 63) == 0) {
      // A run of '0' codes: the same delta again, once per leading zero bit.
      size_t run = w == 0 ? 64 : static_cast<size_t>(__builtin_clzll(w));
      if (run > n - i) run = n - i;
      r->skip(static_cast<unsigned>(run));
      for (size_t j = 0; j < run; ++j) {
        ts += delta;
        out[i++] = static_cast<int64_t>(ts);
      }
      continue;
    }
    const unsigned ones = ~w == 0 ? 64 : static_cast<unsigned>(__builtin_clzll(~w));
    uint64_t zz;
    switch (ones) {
      case 1:
        zz = (w >> (64 - 2 - 8)) & ((uint64_t{1} << 8) - 1);
        r->skip(2 + 8);
        break;
      case 2:
        zz = (w >> (64 - 3 - 14)) & ((uint64_t{1} << 14) - 1);
        r->skip(3 + 14);
        break;
      case 3:
        zz = (w >> (64 - 4 - 24)) & ((uint64_t{1} << 24) - 1);
        r->skip(4 + 24);
        break;
      case 4:
        zz = (w >> (64 - 5 - 36)) & ((uint64_t{1} << 36) - 1);
        r->skip(5 + 36);
        break;
      default:
        r->skip(5);
        zz = r->read(64);
        break;
    }
    delta += unzigzag(zz);
    ts += delta;
    out[i++] = static_cast<int64_t>(ts);
  }
  s->prev_ts = ts;
  s->prev_delta = delta;
}

}  // namespace fp::codec
