#pragma once
// Values as Gorilla XOR of their IEEE-754 bit patterns (Pelkonen et al., VLDB 2015), the
// encoding for chunks whose values are not all short decimals. It works on the raw 64 bits,
// so every pattern, NaN payloads included, round-trips exactly. After the first value (64
// raw bits), each value x is coded against the previous one p:
//
//   x ^ p == 0                                '0'
//   meaningful bits fit the current window   '10' + the window's bits
//   otherwise                                '11' + leading zeros (5 bits, capped at 31)
//                                                 + meaningful length (6 bits, 64 as 0)
//                                                 + meaningful bits; this becomes the window

#include <bit>
#include <cstddef>
#include <cstdint>

#include "storage/codec/bit_reader.h"
#include "storage/codec/bit_writer.h"

namespace fp::codec {

struct XorState {
  uint64_t prev = 0;  // bit pattern of the previous value
  unsigned lead = 0;  // the window: zero bits above and below it
  unsigned trail = 0;
  bool has_window = false;
};

// Codes `bits` after s->prev. Sink is BitWriter, or BitCounter to price the encoding.
template <typename Sink>
inline void encode_xor(uint64_t bits, XorState* s, Sink* w) {
  const uint64_t x = bits ^ s->prev;
  s->prev = bits;
  if (x == 0) {
    w->write(0, 1);
    return;
  }
  unsigned lead = static_cast<unsigned>(__builtin_clzll(x));
  const unsigned trail = static_cast<unsigned>(__builtin_ctzll(x));
  if (lead > 31) lead = 31;
  const unsigned sig = 64 - lead - trail;
  if (s->has_window && lead >= s->lead && trail >= s->trail) {
    const unsigned window = 64 - s->lead - s->trail;
    // Reusing costs 2 + window bits, a new window 13 + sig: reuse unless that is worse.
    if (window <= sig + 11) {
      w->write(0b10, 2);
      w->write(x >> s->trail, window);
      return;
    }
  }
  w->write((uint64_t{0b11} << 11) | (uint64_t{lead} << 6) | (sig & 63), 13);
  w->write(x >> trail, sig);
  s->lead = lead;
  s->trail = trail;
  s->has_window = true;
}

// Decodes the next n values into out. False on an impossible code (a window reused before
// one was set, or leading zeros + length > 64); truncation is left to r->overran().
inline bool decode_xor(BitReader* r, size_t n, XorState* s, double* out) {
  uint64_t prev = s->prev;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t w = r->peek64();
    if ((w >> 63) == 0) {
      r->skip(1);
    } else if ((w >> 62) == 0b10) {
      if (!s->has_window) return false;
      r->skip(2);
      prev ^= r->read(64 - s->lead - s->trail) << s->trail;
    } else {
      const unsigned lead = static_cast<unsigned>((w >> 57) & 31);
      unsigned sig = static_cast<unsigned>((w >> 51) & 63);
      if (sig == 0) sig = 64;
      if (lead + sig > 64) return false;
      r->skip(13);
      s->lead = lead;
      s->trail = 64 - lead - sig;
      s->has_window = true;
      prev ^= r->read(sig) << s->trail;
    }
    out[i] = std::bit_cast<double>(prev);
  }
  s->prev = prev;
  return true;
}

}  // namespace fp::codec
