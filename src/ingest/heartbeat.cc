#include "ingest/heartbeat.h"

#include <fmt/format.h>

#include "ingest/json_input.h"

namespace fp {
namespace {

bool blank(std::string_view s) {
  for (char c : s)
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return false;
  return true;
}

}  // namespace

Result<HeartbeatReport> decode_heartbeat(std::string_view body, std::string_view path_device_id,
                                         int64_t received_ms) {
  HeartbeatReport r;
  r.received_ms = received_ms;
  r.device_id = std::string(path_device_id);
  if (!path_device_id.empty()) {
    if (auto e = validate_device_id(path_device_id); !e.empty()) return Status::Unprocessable(e);
  }
  if (blank(body)) {
    if (path_device_id.empty()) return Status::Unprocessable("device_id is required");
    return r;
  }
  auto parsed = parse_json(body);
  if (!parsed.ok()) return parsed.status();
  simdjson::dom::object obj;
  if (parsed->get_object().get(obj))
    return Status::Unprocessable("heartbeat must be a JSON object");

  std::optional<std::string> id;
  FP_ASSIGN_OR_RETURN(id, optional_string(obj, "device_id"));
  if (id) {
    if (!path_device_id.empty() && *id != path_device_id)
      return Status::Unprocessable("device_id in the body does not match the path");
    r.device_id = *id;
  }
  if (r.device_id.empty()) return Status::Unprocessable("device_id is required");
  if (auto e = validate_device_id(r.device_id); !e.empty()) return Status::Unprocessable(e);

  FP_ASSIGN_OR_RETURN(r.name, optional_string(obj, "name"));
  if (r.name) {
    if (auto e = validate_device_text("name", *r.name); !e.empty()) return Status::Unprocessable(e);
  }
  FP_ASSIGN_OR_RETURN(r.battery_level, optional_number(obj, "battery_level"));
  if (r.battery_level && (*r.battery_level < 0 || *r.battery_level > 100))
    return Status::Unprocessable(
        fmt::format("battery_level must be between 0 and 100, got {}", *r.battery_level));
  FP_ASSIGN_OR_RETURN(r.signal_strength, optional_number(obj, "signal_strength"));
  if (r.signal_strength &&
      (*r.signal_strength < kMinSignalDbm || *r.signal_strength > kMaxSignalDbm))
    return Status::Unprocessable(
        fmt::format("signal_strength must be between {} and {} dBm, got {}", kMinSignalDbm,
                    kMaxSignalDbm, *r.signal_strength));
  FP_ASSIGN_OR_RETURN(r.device_ts_ms, optional_time(obj, "ts"));
  if (!r.device_ts_ms) {
    FP_ASSIGN_OR_RETURN(r.device_ts_ms, optional_time(obj, "timestamp"));
  }

  simdjson::dom::element loc;
  if (!obj.at_key("location").get(loc) && !loc.is_null()) {
    std::string_view text;
    simdjson::dom::object lo;
    if (!loc.get_string().get(text)) {
      r.location = std::string(text);
    } else if (!loc.get_object().get(lo)) {
      std::optional<double> lat, lon;
      FP_ASSIGN_OR_RETURN(lat, optional_number(lo, "lat"));
      FP_ASSIGN_OR_RETURN(lon, optional_number(lo, "lon"));
      if (!lat || !lon) return Status::Unprocessable("location object needs numeric lat and lon");
      if (*lat < -90 || *lat > 90 || *lon < -180 || *lon > 180)
        return Status::Unprocessable("location lat must be in -90..90 and lon in -180..180");
      r.geo = GeoPoint{*lat, *lon};
      std::optional<std::string> name;
      FP_ASSIGN_OR_RETURN(name, optional_string(lo, "name"));
      if (name) r.location = name;
    } else {
      return Status::Unprocessable("location must be a string or an object with lat and lon");
    }
  }
  if (r.location) {
    if (auto e = validate_device_text("location", *r.location); !e.empty())
      return Status::Unprocessable(e);
  }
  return r;
}

}  // namespace fp
