#include "live/telemetry_payload.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "model/time_format.h"
#include "util/json_writer.h"

namespace fp {

void TelemetryPayloadWriter::begin(std::string& out, std::string_view device) {
  out += "{\"device_id\":";
  append_escaped(out, device);
  out += ",\"points\":[";
  first_point_ = true;
}

void TelemetryPayloadWriter::add_point(std::string& out, std::string_view metric, int64_t ts_ms,
                                       double value) {
  out += first_point_ ? "{\"metric\":" : ",{\"metric\":";
  first_point_ = false;
  append_escaped(out, metric);
  out += ",\"ts\":";
  out.push_back('"');
  append_timestamp(out, ts_ms);
  out += "\",\"value\":";
  if (!std::isfinite(value)) {
    out += "null}";
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, r.ptr);
  out.push_back('}');
}

void TelemetryPayloadWriter::end(std::string& out) {
  out += "]}";
}

void TelemetryPayloadWriter::append_timestamp(std::string& out, int64_t ms) {
  // Floor division, as append_rfc3339: the milliseconds are always 0..999 and the second of
  // the day 0..86399.
  const int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  const int64_t frac = ms - secs * 1000;
  const int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  const int64_t rem = secs - days * 86400;
  if (days != cached_day_) {
    day_prefix_.clear();
    append_rfc3339(day_prefix_, days * 86400 * 1000);
    day_prefix_.resize(day_prefix_.size() - 13);  // "00:00:00.000Z"
    cached_day_ = days;
  }
  out += day_prefix_;
  const auto digit = [](int64_t v) { return static_cast<char>('0' + v); };
  const int64_t h = rem / 3600, m = rem % 3600 / 60, s = rem % 60;
  const char tail[13] = {digit(h / 10),
                         digit(h % 10),
                         ':',
                         digit(m / 10),
                         digit(m % 10),
                         ':',
                         digit(s / 10),
                         digit(s % 10),
                         '.',
                         digit(frac / 100),
                         digit(frac / 10 % 10),
                         digit(frac % 10),
                         'Z'};
  out.append(tail, sizeof tail);
}

void TelemetryPayloadWriter::append_escaped(std::string& out, std::string_view s) {
  // Device and metric names rarely need escaping: append them whole, else as JsonWriter does.
  const bool plain = std::all_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c >= 0x20 && c != '"' && c != '\\';
  });
  if (!plain) return JsonWriter::append_escaped(out, s);
  out.push_back('"');
  out.append(s);
  out.push_back('"');
}

}  // namespace fp
