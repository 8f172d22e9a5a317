#include "simulate/message_json.h"

#include <simdjson.h>

#include "util/json_writer.h"

namespace fp::sim {
namespace {

void write_reading(JsonWriter& w, const OutgoingReading& r) {
  w.begin_object();
  w.field("device_id", r.device->id);
  if (r.invalid)
    w.field("ts", "not-a-time");
  else
    w.field("ts", r.reading.ts_ms);
  for (const auto& [metric, value] : r.reading.values) w.field(metric, value);
  w.end_object();
}

}  // namespace

std::string encode_readings_json(const std::vector<OutgoingReading>& batch) {
  JsonWriter w;
  w.begin_array();
  for (const OutgoingReading& r : batch) write_reading(w, r);
  w.end_array();
  return w.take();
}

std::string encode_reading_json(const OutgoingReading& r) {
  JsonWriter w;
  write_reading(w, r);
  return w.take();
}

std::string encode_heartbeat_json(const HeartbeatMessage& hb) {
  JsonWriter w;
  w.begin_object();
  if (hb.battery_level >= 0) w.field("battery_level", hb.battery_level);
  w.field("signal_strength", hb.signal_strength);
  if (hb.has_geo)
    w.key("location").begin_object().field("lat", hb.lat).field("lon", hb.lon).end_object();
  // The server's response time KPI is its receive time minus this.
  if (hb.ts_ms > 0) w.field("ts", hb.ts_ms);
  w.end_object();
  return w.take();
}

std::optional<std::vector<size_t>> rejected_indexes(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(simdjson::padded_string(body)).get(doc)) return std::nullopt;
  simdjson::dom::array rejected;
  if (doc["rejected"].get_array().get(rejected)) return std::nullopt;
  std::vector<size_t> out;
  for (auto item : rejected) {
    uint64_t index;
    if (item["index"].get_uint64().get(index)) return std::nullopt;
    out.push_back(index);
  }
  return out;
}

}  // namespace fp::sim
