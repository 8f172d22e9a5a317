#pragma once
// The functions over a range vector window (rate, increase, *_over_time, ...), each exactly
// as Prometheus 2.42's promql/functions.go computes it, including its float arithmetic
// (Kahan-Neumaier sums, incremental means) so results agree to the last bits.

#include <cmath>
#include <cstddef>
#include <deque>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "promql/series_source.h"

namespace fp::promql {

struct RangeWindow {
  std::span<const Point> points;  // the samples in [start, end], ascending, at least one
  int64_t start_ms;               // t - offset - range
  int64_t end_ms;                 // t - offset
  int64_t range_ms;
  double arg = 0;  // quantile_over_time's quantile
};

// The function's value for the window, or nullopt when it yields no sample (e.g. rate of
// fewer than two points). `name` must be a supported range function.
std::optional<double> eval_range_function(std::string_view name, const RangeWindow& w);

// Prometheus's quantile over values (NaN sorted first, linear interpolation); sorts `values`.
double quantile(double q, std::vector<double>& values);

// Kahan-Neumaier summation step, as functions.go's kahanSumInc.
void kahan_add(double inc, double& sum, double& c);

// max_over_time / min_over_time of a window sliding forward over a sequence, in amortised
// O(1) a value instead of a pass over every window: the first of the largest (`max`) or
// smallest non-NaN values, as functions.go picks it (`cur > max || isNaN(max)`), NaN when
// the window holds no other value. Not thread-safe.
class SlidingExtreme {
 public:
  explicit SlidingExtreme(bool max) : max_(max) {}
  // Appends the value at position `i` (positions strictly ascending).
  void push(size_t i, double v);
  // Forgets the values at positions below `lo`.
  void drop_before(size_t lo) {
    while (!q_.empty() && q_.front().first < lo) q_.pop_front();
  }
  double value() const { return q_.empty() ? NAN : q_.front().second; }

 private:
  bool max_;
  // Positions and values, values non-increasing (max) or non-decreasing (min) from the front:
  // an earlier value equal to a later one stays, so the front is the first extreme.
  std::deque<std::pair<size_t, double>> q_;
};

}  // namespace fp::promql
