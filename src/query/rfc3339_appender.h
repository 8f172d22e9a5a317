#pragma once
// Rfc3339Appender: writes times as model/time_format.h's append_rfc3339 does
// ("2026-02-12T16:00:00.000Z"), byte for byte, without snprintf per time: the date text is
// kept for the last day written, and the time of day is written digit by digit. What answers
// with tens of thousands of times (the fleet's latest values) use.
// Not thread-safe: one per answer.

#include <cstdint>
#include <string>

namespace fp::query {

class Rfc3339Appender {
 public:
  void append(std::string& out, int64_t ms);

 private:
  int64_t day_ = INT64_MIN;  // days since the epoch of the date in date_
  char date_[11] = {};       // "YYYY-MM-DDT"
};

}  // namespace fp::query
