#pragma once
// HeartbeatReport: one heartbeat as decoded from any transport, and its decoder.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "model/device.h"
#include "util/result.h"

namespace fp {

struct HeartbeatReport {
  std::string device_id;
  int64_t received_ms = 0;              // server time: what status tracking uses
  std::optional<int64_t> device_ts_ms;  // the device's own time, when it sent one
  std::optional<std::string> name;
  std::optional<double> battery_level;    // 0..100 %
  std::optional<double> signal_strength;  // -150..0 dBm
  std::optional<std::string> location;    // free text
  std::optional<GeoPoint> geo;
  uint32_t wire_bytes = 0;  // size of the message as received (for throughput KPIs)
};

inline constexpr double kMinSignalDbm = -150.0;
inline constexpr double kMaxSignalDbm = 0.0;

// Decodes a heartbeat JSON body. With a non-empty `path_device_id` the body may be empty and
// its device_id, if present, must match. kMalformed for broken JSON; kUnprocessable (with a
// message naming the field) for wrong types and out-of-range values.
Result<HeartbeatReport> decode_heartbeat(std::string_view body, std::string_view path_device_id,
                                         int64_t received_ms);

}  // namespace fp
