#include "promql/range_functions.h"

#include <algorithm>
#include <cmath>

namespace fp::promql {
namespace {

std::optional<double> extrapolated_rate(const RangeWindow& w, bool is_counter, bool is_rate) {
  const auto& p = w.points;
  if (p.size() < 2) return std::nullopt;
  double result = p.back().v - p.front().v;
  if (is_counter) {
    double prev = p.front().v;
    for (size_t i = 1; i < p.size(); ++i) {
      if (p[i].v < prev) result += prev;
      prev = p[i].v;
    }
  }
  double to_start = static_cast<double>(p.front().t - w.start_ms) / 1000;
  const double to_end = static_cast<double>(w.end_ms - p.back().t) / 1000;
  const double sampled = static_cast<double>(p.back().t - p.front().t) / 1000;
  const double avg_step = sampled / static_cast<double>(p.size() - 1);
  if (is_counter && result > 0 && p.front().v >= 0) {
    const double to_zero = sampled * (p.front().v / result);
    if (to_zero < to_start) to_start = to_zero;
  }
  const double threshold = avg_step * 1.1;
  double interval = sampled;
  interval += to_start < threshold ? to_start : avg_step / 2;
  interval += to_end < threshold ? to_end : avg_step / 2;
  double factor = interval / sampled;
  if (is_rate) factor /= static_cast<double>(w.range_ms) / 1000;
  return result * factor;
}

std::optional<double> instant_value(const RangeWindow& w, bool is_rate) {
  const auto& p = w.points;
  if (p.size() < 2) return std::nullopt;
  const Point& last = p[p.size() - 1];
  const Point& prev = p[p.size() - 2];
  double result = (is_rate && last.v < prev.v) ? last.v : last.v - prev.v;
  const int64_t interval = last.t - prev.t;
  if (interval == 0) return std::nullopt;
  if (is_rate) result /= static_cast<double>(interval) / 1000;
  return result;
}

double deriv(std::span<const Point> p) {
  const int64_t intercept_time = p.front().t;
  double n = 0, sum_x = 0, c_x = 0, sum_y = 0, c_y = 0, sum_xy = 0, c_xy = 0, sum_x2 = 0, c_x2 = 0;
  const double init_y = p.front().v;
  bool const_y = true;
  for (size_t i = 0; i < p.size(); ++i) {
    if (const_y && i > 0 && p[i].v != init_y) const_y = false;
    n += 1.0;
    const double x = static_cast<double>(p[i].t - intercept_time) / 1e3;
    kahan_add(x, sum_x, c_x);
    kahan_add(p[i].v, sum_y, c_y);
    kahan_add(x * p[i].v, sum_xy, c_xy);
    kahan_add(x * x, sum_x2, c_x2);
  }
  if (const_y) return std::isinf(init_y) ? NAN : 0;
  sum_x += c_x;
  sum_y += c_y;
  sum_xy += c_xy;
  sum_x2 += c_x2;
  const double cov_xy = sum_xy - sum_x * sum_y / n;
  const double var_x = sum_x2 - sum_x * sum_x / n;
  return cov_xy / var_x;
}

double avg_over_time(std::span<const Point> p) {
  double mean = 0, count = 0, c = 0;
  for (const Point& pt : p) {
    count++;
    if (std::isinf(mean)) {
      if (std::isinf(pt.v) && (mean > 0) == (pt.v > 0)) continue;
      if (!std::isinf(pt.v) && !std::isnan(pt.v)) continue;
    }
    kahan_add(pt.v / count - mean / count, mean, c);
  }
  return std::isinf(mean) ? mean : mean + c;
}

double variance(std::span<const Point> p) {
  double count = 0, mean = 0, c_mean = 0, aux = 0, c_aux = 0;
  for (const Point& pt : p) {
    count++;
    const double delta = pt.v - (mean + c_mean);
    kahan_add(delta / count, mean, c_mean);
    kahan_add(delta * (pt.v - (mean + c_mean)), aux, c_aux);
  }
  return (aux + c_aux) / count;
}

}  // namespace

void kahan_add(double inc, double& sum, double& c) {
  const double t = sum + inc;
  if (std::fabs(sum) >= std::fabs(inc)) {
    c += (sum - t) + inc;
  } else {
    c += (inc - t) + sum;
  }
  sum = t;
}

void SlidingExtreme::push(size_t i, double v) {
  if (std::isnan(v)) return;
  while (!q_.empty() && (max_ ? q_.back().second < v : q_.back().second > v)) q_.pop_back();
  q_.emplace_back(i, v);
}

double quantile(double q, std::vector<double>& values) {
  if (values.empty() || std::isnan(q)) return NAN;
  if (q < 0) return -INFINITY;
  if (q > 1) return INFINITY;
  std::sort(values.begin(), values.end(), [](double a, double b) {
    if (std::isnan(a)) return !std::isnan(b);
    return a < b;
  });
  const double n = static_cast<double>(values.size());
  const double rank = q * (n - 1);
  const double lower = std::max(0.0, std::floor(rank));
  const double upper = std::min(n - 1, lower + 1);
  const double weight = rank - std::floor(rank);
  return values[static_cast<size_t>(lower)] * (1 - weight) +
         values[static_cast<size_t>(upper)] * weight;
}

std::optional<double> eval_range_function(std::string_view name, const RangeWindow& w) {
  const auto& p = w.points;
  if (name == "rate") return extrapolated_rate(w, true, true);
  if (name == "increase") return extrapolated_rate(w, true, false);
  if (name == "delta") return extrapolated_rate(w, false, false);
  if (name == "irate") return instant_value(w, true);
  if (name == "idelta") return instant_value(w, false);
  if (name == "deriv") {
    if (p.size() < 2) return std::nullopt;
    return deriv(p);
  }
  if (name == "changes" || name == "resets") {
    const bool changes = name == "changes";
    int n = 0;
    double prev = p.front().v;
    for (size_t i = 1; i < p.size(); ++i) {
      const double cur = p[i].v;
      if (changes ? (cur != prev && !(std::isnan(cur) && std::isnan(prev))) : cur < prev) ++n;
      prev = cur;
    }
    return n;
  }
  if (name == "avg_over_time") return avg_over_time(p);
  if (name == "count_over_time") return static_cast<double>(p.size());
  if (name == "last_over_time") return p.back().v;
  if (name == "present_over_time") return 1.0;
  if (name == "max_over_time" || name == "min_over_time") {
    const bool is_max = name == "max_over_time";
    double m = p.front().v;
    for (const Point& pt : p)
      if ((is_max ? pt.v > m : pt.v < m) || std::isnan(m)) m = pt.v;
    return m;
  }
  if (name == "sum_over_time") {
    double sum = 0, c = 0;
    for (const Point& pt : p) kahan_add(pt.v, sum, c);
    return std::isinf(sum) ? sum : sum + c;
  }
  if (name == "stdvar_over_time") return variance(p);
  if (name == "stddev_over_time") return std::sqrt(variance(p));
  if (name == "quantile_over_time") {
    std::vector<double> vals;
    vals.reserve(p.size());
    for (const Point& pt : p) vals.push_back(pt.v);
    return quantile(w.arg, vals);
  }
  return std::nullopt;
}

}  // namespace fp::promql
