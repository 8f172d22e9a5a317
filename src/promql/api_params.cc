#include "promql/api_params.h"

#include <charconv>
#include <cmath>

#include "model/time_format.h"
#include "promql/lexer.h"

namespace fp::promql {

std::optional<int64_t> parse_api_time(const std::string& s) {
  double secs = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), secs);
  if (r.ec == std::errc() && r.ptr == s.data() + s.size() && std::isfinite(secs)) {
    double whole = 0;
    const double frac = std::modf(secs, &whole);
    if (std::fabs(whole) > 9.2e12) return std::nullopt;  // keeps ms arithmetic in range
    return static_cast<int64_t>(whole) * 1000 + static_cast<int64_t>(std::round(frac * 1000));
  }
  return parse_rfc3339(s);
}

std::optional<int64_t> parse_api_step(const std::string& s) {
  double secs = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), secs);
  if (r.ec == std::errc() && r.ptr == s.data() + s.size()) {
    const double ms = secs * 1000;
    if (!std::isfinite(ms) || std::fabs(ms) > 9.2e15) return std::nullopt;  // 292,000 years
    return static_cast<int64_t>(ms);
  }
  const int64_t d = parse_duration(s);
  if (d < 0) return std::nullopt;
  return d;
}

}  // namespace fp::promql
