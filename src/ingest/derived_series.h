#pragma once
// Series the server writes itself, beside what devices send: a heartbeat's battery_level and
// signal_strength as series of the device (so their trends exist for devices that only send
// heartbeats), and series keyed by an internal device key (KPI history, src/kpi/kpi_history.h)
// that starts with kInternalKeyPrefix — a character device ids may not contain
// (validate_device_id), so such a key never names a device and readers of device telemetry
// skip it.

#include <string_view>

#include "ingest/heartbeat.h"
#include "model/reading_batch.h"

namespace fp {

inline constexpr char kInternalKeyPrefix = '~';

// True for a store key that is not a device (internal series).
inline bool is_internal_series_key(std::string_view device) {
  return !device.empty() && device.front() == kInternalKeyPrefix;
}

// Adds the report's battery_level and signal_strength (those it has) to `out` as points of
// the device at the heartbeat's time (the device's own timestamp, else the receive time).
// False when the report has neither.
bool add_heartbeat_series(ReadingBatch& out, const HeartbeatReport& r);

}  // namespace fp
