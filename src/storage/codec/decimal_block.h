#pragma once
// Blocks of the decimal value encoding: the integer mantissas of up to kDecimalBlockSize
// consecutive points, as residuals against the points before them (docs/formats/chunk.md).
// Each block picks the cheapest of four codings and says which in an 8-bit header
// [sparse:1][order2:1][width:6]:
//   order 1: residual = m[i] - m[i-1]                  (random walks, steps)
//   order 2: residual = (m[i] - m[i-1]) - previous delta (ramps, counters)
//   dense:   every residual as `width` bits of zigzag(residual)
//   sparse:  '0' for a zero residual, else '1' + `width` bits (mostly constant series)
// All arithmetic is modulo 2^64.

#include <cstddef>
#include <cstdint>

#include "storage/codec/bit_reader.h"
#include "storage/codec/bit_writer.h"

namespace fp::codec {

// Carried from block to block; the delta is always the order-1 delta, whatever the coding.
struct DeltaState {
  uint64_t prev_m = 0;
  uint64_t prev_delta = 0;
};

// Bits that encode_decimal_block would write for m[0..n), n in 1..kDecimalBlockSize.
uint64_t decimal_block_bits(const int64_t* m, size_t n, const DeltaState& s);

// Writes the block of m[0..n), n in 1..kDecimalBlockSize, and advances *s past it.
void encode_decimal_block(const int64_t* m, size_t n, DeltaState* s, BitWriter* w);

// Reads a block of n mantissas into out and advances *s. Truncation is left to r->overran().
void decode_decimal_block(BitReader* r, size_t n, DeltaState* s, int64_t* out);

}  // namespace fp::codec
