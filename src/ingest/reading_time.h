#pragma once
// The one reading of a device's own time, shared by telemetry and heartbeats on every
// transport: an RFC 3339 string or an epoch number (also sent as a string of digits). Every
// such time must lie in 1970-01-01 .. 2262-04-11 (what int64 nanoseconds can hold, so every
// precision can represent it); anything else is refused with the same message everywhere.

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "model/time_format.h"

namespace fp {

// Reads the time in `t` (the JSON value of field `key`) into `*ms`. Epoch numbers are in
// `precision`; with nullopt they are guessed as heartbeats always did: seconds below 1e11,
// else milliseconds. Returns empty on success, else a message naming `key`.
std::string parse_reading_time(simdjson::dom::element t, std::string_view key,
                               std::optional<Precision> precision, int64_t& ms);

}  // namespace fp
