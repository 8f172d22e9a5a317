#pragma once
// Where KPI history lives in the telemetry store: internal store keys (they start with '~',
// which device ids may not contain, see ingest/derived_series.h) holding one series per KPI.
//   "~kpi/<device_id>"  the device's KPIs   -> PromQL
//   fleetpulse_device_<kpi>{device_id,type,location}
//   "~type/<type>"      the type's roll-up  -> PromQL fleetpulse_type_<kpi>{type}
// Header only: the PromQL source reads these names without linking the KPI module.

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace fp::kpi_keys {

inline constexpr std::string_view kDevicePrefix = "~kpi/";
inline constexpr std::string_view kTypePrefix = "~type/";

// The KPI series names (store metric names), each sampled every --kpi-history-interval:
//   availability      % of the interval the device was online (type: mean over its devices)
//   uptime            % of the interval it was online or at_risk
//   response_time_ms  mean response time of the interval's heartbeats (receive - device ts)
//   messages          reports accepted in the interval (type: sum)
//   errors            reports rejected in the interval (type: sum)
//   battery_level     the latest battery level known (type: mean)
//   devices           (type roll-up only) devices of the type
inline constexpr std::array<std::string_view, 7> kMetrics = {
    "availability", "uptime", "response_time_ms", "messages", "errors", "battery_level", "devices"};

// Where the sampler keeps, with each sample, what it counts the next one from (so a restart
// counts the reports made between the last sample and a crash, kpi_history.h). Not KPIs:
// PromQL does not serve them.
//   "~kpibase/<device_id>"  hour_messages, hour_errors: the device's counters of the sample's
//                           hour at the sample's time (written when they changed)
//   "~kpibase"              sampled: one point per sample of a fleet with devices (when the
//                           last one was taken)
inline constexpr std::string_view kBaselinePrefix = "~kpibase/";
inline constexpr std::string_view kSampledKey = "~kpibase";

inline std::string device_key(std::string_view device_id) {
  return std::string(kDevicePrefix) + std::string(device_id);
}
inline std::string type_key(std::string_view type) {
  return std::string(kTypePrefix) + std::string(type);
}
inline std::string baseline_key(std::string_view device_id) {
  return std::string(kBaselinePrefix) + std::string(device_id);
}
// The store keys of one device's KPI history: removed with the device (Ingestor
// removes them in the removal's WAL commit), so an id used again starts a new history.
inline std::vector<std::string> keys_of_device(std::string_view device_id) {
  return {device_key(device_id), baseline_key(device_id)};
}

}  // namespace fp::kpi_keys
