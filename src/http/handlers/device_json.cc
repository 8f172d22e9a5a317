#include "http/handlers/device_json.h"

#include "model/time_format.h"

namespace fp::http {

void write_device(JsonWriter& w, const Device& d, const std::optional<DeviceLiveState>& live,
                  const std::optional<DeviceConnectionState>& connection) {
  // The tracker is updated before the catalog commit completes, so it is never older.
  DeviceStatus status = live ? live->status : d.status;
  auto last_seen = live && live->last_seen_ms ? live->last_seen_ms : d.last_seen_ms;
  auto battery = live && live->battery_level ? live->battery_level : d.battery_level;
  auto signal = live && live->signal_strength ? live->signal_strength : d.signal_strength;

  w.begin_object();
  w.field("device_id", d.device_id);
  w.field("name", d.name);
  w.field("type", d.type);
  w.field("location", d.location);
  w.key("metadata").raw(d.metadata_json.empty() ? "{}" : d.metadata_json);
  w.key("config").raw(d.config_json.empty() ? "{}" : d.config_json);
  w.field("status", to_string(status));
  w.field("status_reason", live ? live->status_reason : d.status_reason);
  w.key("last_seen");
  if (last_seen)
    w.value(format_rfc3339(*last_seen));
  else
    w.null();
  w.field("battery_level", battery);
  w.field("signal_strength", signal);
  w.key("geo");
  if (d.geo)
    w.begin_object().field("lat", d.geo->lat).field("lon", d.geo->lon).end_object();
  else
    w.null();
  if (live && live->cadence_ms && live->cadence_samples > 0) {
    w.field("report_interval_ms", *live->cadence_ms);
  }
  const DeviceConnectionState conn = connection.value_or(DeviceConnectionState{});
  w.field("connected", conn.connected);
  for (auto [key, at] : {std::pair{"last_connect", conn.last_connect_ms},
                         std::pair{"last_disconnect", conn.last_disconnect_ms}}) {
    w.key(key);
    if (at)
      w.value(format_rfc3339(*at));
    else
      w.null();
  }
  if (d.attributes) {
    w.key("attributes").begin_object();
    for (const auto& [key, value] : *d.attributes) w.field(key, value);
    w.end_object();
  }
  w.field("created_at", format_rfc3339(d.created_at_ms));
  w.field("updated_at", format_rfc3339(d.updated_at_ms));
  w.end_object();
}

}  // namespace fp::http
