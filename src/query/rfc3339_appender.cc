#include "query/rfc3339_appender.h"

#include <cstring>

#include "model/time_format.h"

namespace fp::query {
namespace {

constexpr int64_t kDayMs = 86'400'000;
// Years 0000..9999: four-digit years, the only ones the fast path writes.
constexpr int64_t kFirstFastMs = -62'167'219'200'000;  // 0000-01-01T00:00:00.000Z
constexpr int64_t kEndFastMs = 253'402'300'800'000;    // 10000-01-01T00:00:00.000Z

void two_digits(char* at, int64_t v) {
  at[0] = static_cast<char>('0' + v / 10);
  at[1] = static_cast<char>('0' + v % 10);
}

}  // namespace

void Rfc3339Appender::append(std::string& out, int64_t ms) {
  if (ms < kFirstFastMs || ms >= kEndFastMs) return append_rfc3339(out, ms);
  int64_t day = ms / kDayMs;
  if (ms % kDayMs < 0) --day;
  const int64_t in_day = ms - day * kDayMs;
  if (day != day_) {
    std::string text;
    append_rfc3339(text, day * kDayMs);
    std::memcpy(date_, text.data(), sizeof date_);
    day_ = day;
  }
  char buf[24];
  std::memcpy(buf, date_, sizeof date_);
  two_digits(buf + 11, in_day / 3'600'000);
  buf[13] = ':';
  two_digits(buf + 14, in_day / 60'000 % 60);
  buf[16] = ':';
  two_digits(buf + 17, in_day / 1000 % 60);
  buf[19] = '.';
  const int64_t frac = in_day % 1000;
  buf[20] = static_cast<char>('0' + frac / 100);
  two_digits(buf + 21, frac % 100);
  buf[23] = 'Z';
  out.append(buf, sizeof buf);
}

}  // namespace fp::query
