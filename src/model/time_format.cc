#include "model/time_format.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace fp {
namespace {

// Days from 1970-01-01 to the given civil date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

bool is_leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

}  // namespace

std::optional<Precision> parse_precision(std::string_view s) {
  if (s == "s") return Precision::kSeconds;
  if (s == "ms") return Precision::kMillis;
  if (s == "us" || s == "u") return Precision::kMicros;
  if (s == "ns" || s == "n") return Precision::kNanos;
  return std::nullopt;
}

int64_t epoch_to_ms(int64_t v, Precision p) {
  switch (p) {
    case Precision::kSeconds:
      return v * 1000;
    case Precision::kMillis:
      return v;
    case Precision::kMicros:
      return v / 1000;
    case Precision::kNanos:
      return v / 1'000'000;
  }
  return v;
}

int64_t epoch_to_ms(double v, Precision p) {
  switch (p) {
    case Precision::kSeconds:
      return static_cast<int64_t>(std::llround(v * 1000.0));
    case Precision::kMillis:
      return static_cast<int64_t>(std::llround(v));
    case Precision::kMicros:
      return static_cast<int64_t>(std::llround(v / 1000.0));
    case Precision::kNanos:
      return static_cast<int64_t>(std::llround(v / 1e6));
  }
  return static_cast<int64_t>(v);
}

std::optional<int64_t> checked_epoch_ms(int64_t v, Precision p) {
  if (v < 0) return std::nullopt;
  if (p == Precision::kSeconds && v > kMaxEpochMs / 1000) return std::nullopt;
  const int64_t ms = epoch_to_ms(v, p);
  if (ms > kMaxEpochMs) return std::nullopt;
  return ms;
}

std::optional<int64_t> checked_epoch_ms(double v, Precision p) {
  double scale = 1;
  switch (p) {
    case Precision::kSeconds:
      scale = 1e3;
      break;
    case Precision::kMillis:
      break;
    case Precision::kMicros:
      scale = 1e-3;
      break;
    case Precision::kNanos:
      scale = 1e-6;
      break;
  }
  const double ms = std::round(v * scale);
  if (!(ms >= 0 && ms <= static_cast<double>(kMaxEpochMs))) return std::nullopt;
  return static_cast<int64_t>(ms);
}

std::optional<int64_t> parse_rfc3339(std::string_view s) {
  int Y, M, D, h, m, sec;
  if (s.size() < 19) return std::nullopt;
  if (!digits(s, 0, 4, Y) || s[4] != '-' || !digits(s, 5, 2, M) || s[7] != '-' ||
      !digits(s, 8, 2, D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !digits(s, 11, 2, h) || s[13] != ':' || !digits(s, 14, 2, m) || s[16] != ':' ||
      !digits(s, 17, 2, sec))
    return std::nullopt;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (M < 1 || M > 12 || D < 1) return std::nullopt;
  if (D > kDays[M - 1] + (M == 2 && is_leap(Y) ? 1 : 0)) return std::nullopt;
  if (h > 23 || m > 59 || sec > 60) return std::nullopt;
  size_t pos = 19;
  int64_t frac_ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t start = pos;
    int64_t scale = 100;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      frac_ms += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  int64_t offset_s = 0;
  if (pos >= s.size()) return std::nullopt;  // a zone is required
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh, om;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om) || oh > 23 || om > 59)
      return std::nullopt;
    offset_s = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  int64_t days = days_from_civil(Y, static_cast<unsigned>(M), static_cast<unsigned>(D));
  int64_t secs = days * 86400 + h * 3600 + m * 60 + sec - offset_s;
  return secs * 1000 + frac_ms;
}

void append_rfc3339(std::string& out, int64_t ms) {
  int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  int64_t frac = ms - secs * 1000;
  int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  int64_t rem = secs - days * 86400;
  int64_t y;
  unsigned mo, d;
  civil_from_days(days, y, mo, d);
  char buf[40];
  int n = std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
                        static_cast<long long>(y), mo, d, static_cast<long long>(rem / 3600),
                        static_cast<long long>(rem % 3600 / 60), static_cast<long long>(rem % 60),
                        static_cast<long long>(frac));
  out.append(buf, static_cast<size_t>(n));
}

std::string format_rfc3339(int64_t ms) {
  std::string s;
  append_rfc3339(s, ms);
  return s;
}

constexpr double kMaxDurationMs = 9e15;

std::optional<int64_t> parse_duration_ms(std::string_view s) {
  if (s.empty()) return std::nullopt;
  // A bare number means seconds.
  double bare;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), bare);
  if (ec == std::errc() && p == s.data() + s.size()) {
    // Beyond ~285,000 years a duration is a typo, and the cast would overflow.
    if (bare < 0 || !std::isfinite(bare) || bare * 1000.0 > kMaxDurationMs) return std::nullopt;
    return static_cast<int64_t>(bare * 1000.0);
  }
  int64_t total = 0;
  size_t i = 0;
  while (i < s.size()) {
    double num;
    auto [q, e] = std::from_chars(s.data() + i, s.data() + s.size(), num);
    if (e != std::errc() || num < 0 || !std::isfinite(num)) return std::nullopt;
    i = static_cast<size_t>(q - s.data());
    size_t u = i;
    while (i < s.size() && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z'))) ++i;
    std::string_view unit = s.substr(u, i - u);
    double mult;
    if (unit == "ms")
      mult = 1;
    else if (unit == "s")
      mult = 1000;
    else if (unit == "m")
      mult = 60'000;
    else if (unit == "h")
      mult = 3'600'000;
    else if (unit == "d")
      mult = 86'400'000;
    else if (unit == "w")
      mult = 604'800'000;
    else
      return std::nullopt;
    double add = num * mult;
    if (add > kMaxDurationMs || static_cast<double>(total) + add > kMaxDurationMs)
      return std::nullopt;
    total += static_cast<int64_t>(add);
  }
  return total;
}

std::string format_duration(int64_t ms) {
  if (ms % 86'400'000 == 0 && ms != 0) return std::to_string(ms / 86'400'000) + "d";
  if (ms % 3'600'000 == 0 && ms != 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0 && ms != 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::optional<int64_t> parse_time_bound(std::string_view s, int64_t now_ms, Precision p) {
  if (s.empty()) return std::nullopt;
  if (s == "now") return now_ms;
  if (s.substr(0, 3) == "now") s.remove_prefix(3);
  if (s[0] == '-' || s[0] == '+') {
    bool minus = s[0] == '-';
    auto d = parse_duration_ms(s.substr(1));
    // "-15" alone would be a negative epoch number: only accept relative forms with a unit.
    if (d && s.find_first_of("smhdw") != std::string_view::npos)
      return minus ? now_ms - *d : now_ms + *d;
    if (!minus) return std::nullopt;
  }
  if (s.find('-') != std::string_view::npos && s.size() >= 19) return parse_rfc3339(s);
  int64_t v;
  auto [q, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc() && q == s.data() + s.size()) return epoch_to_ms(v, p);
  return std::nullopt;
}

}  // namespace fp
