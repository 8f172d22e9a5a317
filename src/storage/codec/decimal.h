#pragma once
// Decimal view of a double: v == m / 10^e for an integer mantissa m and an exponent e in
// 0..9. The test is the decoder's own operation, `static_cast<double>(m) / 10^e`, compared
// bit for bit with v, so a value accepted here always decodes to exactly the same bits.
// Because m and 10^e are both exact doubles and IEEE division rounds correctly, every value
// that was parsed from a decimal string with at most 9 fraction digits (and |m| < 2^53) is
// accepted; NaN, infinities, -0.0, denormals and values with more digits are not.

#include <bit>
#include <cmath>
#include <cstdint>

namespace fp::codec {

inline constexpr int kMaxDecimalExponent = 9;
inline constexpr int64_t kMaxDecimalMantissa = (int64_t{1} << 53) - 1;  // |m| <= this

inline constexpr double kPow10[kMaxDecimalExponent + 1] = {1e0, 1e1, 1e2, 1e3, 1e4,
                                                           1e5, 1e6, 1e7, 1e8, 1e9};
inline constexpr int64_t kIntPow10[kMaxDecimalExponent + 1] = {
    1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};

// The decoder's mapping from (m, e) back to a double.
inline double decimal_value(int64_t m, int e) {
  return static_cast<double>(m) / kPow10[e];
}

// decimal_mantissa() for the values its fast path leaves: large, or not decimal at e.
bool decimal_mantissa_slow(double v, int e, int64_t* m);

// True, with *m set, when v == decimal_value(*m, e) bit for bit and |*m| < 2^53.
inline bool decimal_mantissa(double v, int e, int64_t* m) {
  const double x = v * kPow10[e];
  if (!(std::fabs(x) < 0x1p51)) [[unlikely]] {
    return decimal_mantissa_slow(v, e, m);
  }
  // Adding and subtracting 1.5 * 2^52 rounds x to the nearest integer (ties to even)
  // without leaving the FP unit; exact for |x| < 2^51.
  const double r = (x + 0x1.8p52) - 0x1.8p52;
  if (std::bit_cast<uint64_t>(r / kPow10[e]) == std::bit_cast<uint64_t>(v)) [[likely]] {
    *m = static_cast<int64_t>(r);
    return true;
  }
  return decimal_mantissa_slow(v, e, m);
}

// The smallest e in [min_e, 9] for which decimal_mantissa(v, e, m) holds; -1 if none.
int smallest_decimal_exponent(double v, int min_e, int64_t* m);

}  // namespace fp::codec
