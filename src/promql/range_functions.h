#pragma once
// The functions over a range vector window (rate, increase, *_over_time, ...), each exactly
// as Prometheus 2.42's promql/functions.go computes it, including its float arithmetic
// (Kahan-Neumaier sums, incremental means) so results agree to the last bits.

#include <optional>
#include <span>
#include <string_view>

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

}  // namespace fp::promql
