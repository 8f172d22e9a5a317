#pragma once
// TelemetryPayloadWriter: builds the JSON payload of a consumer telemetry message,
// {"device_id":..,"points":[{"metric":..,"ts":"<RFC 3339 ms>","value":..},..]}, byte for byte
// what JsonWriter with format_rfc3339 writes (NaN and infinities as null), without snprintf
// per timestamp (the "YYYY-MM-DDT" of the last day seen is cached, the time of day appended
// digit by digit: points of one device in a batch span seconds, rarely days) and appending names
// that need no escaping whole instead of a char at a time.
//
// Thread safety: none; one writer per thread (the consumer feed's).

#include <cstdint>
#include <string>
#include <string_view>

namespace fp {

class TelemetryPayloadWriter {
 public:
  // Starts a payload for `device` at the end of `out` (what `out` holds stays before it).
  void begin(std::string& out, std::string_view device);
  void add_point(std::string& out, std::string_view metric, int64_t ts_ms, double value);
  void end(std::string& out);

  // Appends format_rfc3339(ms).
  void append_timestamp(std::string& out, int64_t ms);
  // Appends `s` quoted and escaped as JsonWriter::append_escaped does.
  static void append_escaped(std::string& out, std::string_view s);

 private:
  int64_t cached_day_ = INT64_MIN;  // days since the epoch
  std::string day_prefix_;          // "YYYY-MM-DDT" of cached_day_
  bool first_point_ = true;
};

}  // namespace fp
