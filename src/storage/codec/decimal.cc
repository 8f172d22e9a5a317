#include "storage/codec/decimal.h"

#include <bit>
#include <cmath>
#include <initializer_list>

namespace fp::codec {
namespace {

bool same_bits(double a, double b) {
  return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b);
}

}  // namespace

bool decimal_mantissa_slow(double v, int e, int64_t* m) {
  const double x = v * kPow10[e];
  if (!(std::fabs(x) < 0x1p53)) return false;  // also NaN
  // Round to nearest: truncate, then correct by the exact fraction.
  int64_t r = static_cast<int64_t>(x);
  const double frac = x - static_cast<double>(r);
  if (frac >= 0.5) {
    ++r;
  } else if (frac <= -0.5) {
    --r;
  }
  if (r < -kMaxDecimalMantissa || r > kMaxDecimalMantissa) return false;
  if (same_bits(decimal_value(r, e), v)) {
    *m = r;
    return true;
  }
  // x carries the rounding errors of v and of the product; for mantissas near 2^53 they can
  // reach one unit, so the neighbours are candidates too.
  for (int64_t c : {r - 1, r + 1}) {
    if (c >= -kMaxDecimalMantissa && c <= kMaxDecimalMantissa &&
        same_bits(decimal_value(c, e), v)) {
      *m = c;
      return true;
    }
  }
  return false;
}

int smallest_decimal_exponent(double v, int min_e, int64_t* m) {
  for (int e = min_e; e <= kMaxDecimalExponent; ++e) {
    if (decimal_mantissa(v, e, m)) return e;
  }
  return -1;
}

}  // namespace fp::codec
