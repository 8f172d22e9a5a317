#include "storage/codec/decimal_block.h"

#include <cassert>

#include "storage/codec/chunk_format.h"

namespace fp::codec {
namespace {

struct BlockPlan {
  unsigned header = 0;  // the block header byte
  uint64_t bits = 0;    // total bits, header included
  bool order2 = false;
};

// Zigzagged residuals of both orders, and the cheapest coding.
BlockPlan plan_block(const int64_t* m, size_t n, const DeltaState& s, uint64_t* z1, uint64_t* z2) {
  assert(n >= 1 && n <= kDecimalBlockSize);
  uint64_t prev = s.prev_m;
  uint64_t prev_delta = s.prev_delta;
  uint64_t or1 = 0;
  uint64_t or2 = 0;
  uint64_t nonzero1 = 0;
  uint64_t nonzero2 = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t cur = static_cast<uint64_t>(m[i]);
    const uint64_t delta = cur - prev;
    z1[i] = zigzag(delta);
    z2[i] = zigzag(delta - prev_delta);
    or1 |= z1[i];
    or2 |= z2[i];
    nonzero1 += z1[i] != 0;
    nonzero2 += z2[i] != 0;
    prev = cur;
    prev_delta = delta;
  }
  const uint64_t w1 = bit_width64(or1);
  const uint64_t w2 = bit_width64(or2);
  struct Option {
    uint64_t bits;
    unsigned header;
    bool order2;
  };
  const Option options[] = {
      {n * w1, static_cast<unsigned>(w1), false},
      {n + nonzero1 * w1, kBlockSparseFlag | static_cast<unsigned>(w1), false},
      {n * w2, kBlockOrder2Flag | static_cast<unsigned>(w2), true},
      {n + nonzero2 * w2, kBlockSparseFlag | kBlockOrder2Flag | static_cast<unsigned>(w2), true},
  };
  const Option* best = &options[0];
  for (const Option& o : options) {
    if (o.bits < best->bits) best = &o;
  }
  return {best->header, kBlockHeaderBits + best->bits, best->order2};
}

template <bool kOrder2>
inline void apply(uint64_t z, uint64_t* m, uint64_t* delta) {
  if constexpr (kOrder2) {
    *delta += unzigzag(z);
  } else {
    *delta = unzigzag(z);
  }
  *m += *delta;
}

template <bool kOrder2>
void decode_dense(BitReader* r, size_t n, unsigned width, uint64_t* m, uint64_t* delta,
                  int64_t* out) {
  if (width == 0) {
    for (size_t i = 0; i < n; ++i) {
      apply<kOrder2>(0, m, delta);
      out[i] = static_cast<int64_t>(*m);
    }
    return;
  }
  const unsigned drop = 64 - width;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t z = r->peek64() >> drop;
    r->skip(width);
    apply<kOrder2>(z, m, delta);
    out[i] = static_cast<int64_t>(*m);
  }
}

template <bool kOrder2>
void decode_sparse(BitReader* r, size_t n, unsigned width, uint64_t* m, uint64_t* delta,
                   int64_t* out) {
  for (size_t i = 0; i < n; ++i) {
    const uint64_t w = r->peek64();
    uint64_t z = 0;
    if ((w >> 63) == 0) {
      r->skip(1);
    } else {
      // width <= 63, so the flag and the value fit in the 64 peeked bits.
      z = width == 0 ? 0 : (w << 1) >> (64 - width);
      r->skip(1 + width);
    }
    apply<kOrder2>(z, m, delta);
    out[i] = static_cast<int64_t>(*m);
  }
}

}  // namespace

uint64_t decimal_block_bits(const int64_t* m, size_t n, const DeltaState& s) {
  uint64_t z1[kDecimalBlockSize];
  uint64_t z2[kDecimalBlockSize];
  return plan_block(m, n, s, z1, z2).bits;
}

void encode_decimal_block(const int64_t* m, size_t n, DeltaState* s, BitWriter* w) {
  uint64_t z1[kDecimalBlockSize];
  uint64_t z2[kDecimalBlockSize];
  const BlockPlan plan = plan_block(m, n, *s, z1, z2);
  w->write(plan.header, kBlockHeaderBits);
  const uint64_t* z = plan.order2 ? z2 : z1;
  const unsigned width = plan.header & kBlockWidthMask;
  if (plan.header & kBlockSparseFlag) {
    for (size_t i = 0; i < n; ++i) {
      if (z[i] == 0) {
        w->write(0, 1);
      } else {
        w->write((uint64_t{1} << width) | z[i], 1 + width);
      }
    }
  } else if (width > 0) {
    for (size_t i = 0; i < n; ++i) w->write(z[i], width);
  }
  const uint64_t last = static_cast<uint64_t>(m[n - 1]);
  const uint64_t before_last = n >= 2 ? static_cast<uint64_t>(m[n - 2]) : s->prev_m;
  s->prev_delta = last - before_last;
  s->prev_m = last;
}

void decode_decimal_block(BitReader* r, size_t n, DeltaState* s, int64_t* out) {
  const unsigned header = static_cast<unsigned>(r->read(kBlockHeaderBits));
  const unsigned width = header & kBlockWidthMask;
  uint64_t m = s->prev_m;
  uint64_t delta = s->prev_delta;
  switch (header & (kBlockSparseFlag | kBlockOrder2Flag)) {
    case 0:
      decode_dense<false>(r, n, width, &m, &delta, out);
      break;
    case kBlockOrder2Flag:
      decode_dense<true>(r, n, width, &m, &delta, out);
      break;
    case kBlockSparseFlag:
      decode_sparse<false>(r, n, width, &m, &delta, out);
      break;
    default:
      decode_sparse<true>(r, n, width, &m, &delta, out);
      break;
  }
  s->prev_m = m;
  s->prev_delta = delta;
}

}  // namespace fp::codec
