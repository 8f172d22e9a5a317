#include "ingest/telemetry_json.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <cmath>
#include <limits>

#include "ingest/json_input.h"
#include "ingest/reading_time.h"
#include "model/device.h"

namespace fp {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

constexpr std::string_view kShapeError =
    "telemetry must be a reading object, an array of readings, or {\"readings\":[...]}";

std::string_view type_name(element el) {
  switch (el.type()) {
    case element_type::ARRAY:
      return "array";
    case element_type::OBJECT:
      return "object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      return "number";
    case element_type::STRING:
      return "string";
    case element_type::BOOL:
      return "boolean";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "unknown";
}

// Indexes of the reserved keys, in the order they are looked at.
enum Reserved : int {
  kDeviceId,
  kTs,
  kTimestamp,
  kTime,
  kMetric,
  kMetricType,
  kValue,
  kUnit,
  kValues,
  kName,
  kReservedCount,
};

constexpr std::string_view kReservedNames[kReservedCount] = {
    "device_id",   "ts",    "timestamp", "time",   "metric",
    "metric_type", "value", "unit",      "values", "name"};

int reserved_index(std::string_view key) {
  if (key.size() < 2 || key.size() > 11) return -1;
  for (int i = 0; i < kReservedCount; ++i)
    if (key == kReservedNames[i]) return i;
  return -1;
}

struct PendingPoint {
  std::string_view metric;
  double value;
};
struct PendingAttribute {
  std::string_view key;
  std::string_view key_suffix;  // appended to key, e.g. ".unit"
  std::string_view value;
};
// ReadingDecoder's pending reading, per thread: reused across readings and messages, so that
// decoding a message allocates nothing here (MQTT decodes one per PUBLISH).
struct PendingReading {
  std::vector<PendingPoint> points;
  std::vector<PendingAttribute> attributes;
  std::vector<std::string_view> metric_names;  // of points, for the admission
};
thread_local PendingReading pending_reading;

// Decodes one reading at a time into pending points and attributes that only reach the batch
// once the whole reading proved valid. The pending views point into the parsed document, which
// lives until the next parse on this thread.
class ReadingDecoder {
 public:
  ReadingDecoder(const TelemetryJsonOptions& opt, int64_t now_ms, ReadingBatch& out)
      : opt_(opt), now_ms_(now_ms), out_(out) {}

  // Adds the reading to the batch; returns an error message (and adds nothing) otherwise.
  std::string decode(element el);

 private:
  // A flat or `values` field: number/bool -> point, string -> attribute. `context` prefixes
  // the key in messages ("values.").
  std::string add_field(std::string_view key, element v, std::string_view context);
  // Sets ts_ms and has_ts (false: no time given, ts_ms is the receive time).
  std::string decode_time(element reserved[], const bool present[], int64_t& ts_ms, bool& has_ts);
  std::string decode_metric_form(element reserved[], const bool present[]);
  void commit(std::string_view device, int64_t ts_ms, bool has_ts);

  const TelemetryJsonOptions& opt_;
  const int64_t now_ms_;
  ReadingBatch& out_;
  std::vector<PendingPoint>& points_ = pending_reading.points;
  std::vector<PendingAttribute>& attributes_ = pending_reading.attributes;
  std::vector<std::string_view>& metric_names_ = pending_reading.metric_names;
  size_t values_ = 0;  // points plus attributes other than `unit` and `name`
};

std::string ReadingDecoder::add_field(std::string_view key, element v, std::string_view context) {
  switch (v.type()) {
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
    case element_type::BOOL:
    case element_type::STRING:
      break;
    default:
      return fmt::format("{}{} must be a number, boolean or string, got {}", context,
                         name_for_message(key), type_name(v));
  }
  if (auto e = validate_metric_name(key); !e.empty())
    return fmt::format("{}{}: {}", context, name_for_message(key), e);
  ++values_;
  switch (v.type()) {
    case element_type::BOOL:
      points_.push_back({key, v.get_bool().value_unsafe() ? 1.0 : 0.0});
      break;
    case element_type::STRING: {
      const std::string_view text = v.get_string().value_unsafe();
      if (text.size() > kMaxAttributeValueBytes)
        return fmt::format("{}{} is longer than {} bytes", context, name_for_message(key),
                           kMaxAttributeValueBytes);
      attributes_.push_back({key, {}, text});
      break;
    }
    default:
      points_.push_back({key, v.get_double().value_unsafe()});
      break;
  }
  return {};
}

std::string ReadingDecoder::decode_time(element reserved[], const bool present[], int64_t& ts_ms,
                                        bool& has_ts) {
  ts_ms = now_ms_;
  has_ts = false;
  int which = -1;
  for (int k : {kTs, kTimestamp, kTime}) {
    if (present[k] && !reserved[k].is_null()) {
      which = k;
      break;
    }
  }
  if (which < 0) return {};
  int64_t ms = 0;
  if (auto e = parse_reading_time(reserved[which], kReservedNames[which], opt_.precision, ms);
      !e.empty())
    return e;
  ts_ms = ms;
  has_ts = true;
  return {};
}

std::string ReadingDecoder::decode_metric_form(element reserved[], const bool present[]) {
  auto given = [&](int k) { return present[k] && !reserved[k].is_null(); };
  std::string_view metric;
  bool have_metric = false;
  for (int k : {kMetric, kMetricType}) {
    if (!given(k)) continue;
    std::string_view name;
    if (reserved[k].get_string().get(name))
      return fmt::format("{} must be a string, got {}", kReservedNames[k], type_name(reserved[k]));
    if (have_metric && name != metric)
      return fmt::format("metric {} and metric_type {} disagree", name_for_message(metric),
                         name_for_message(name));
    metric = name;
    have_metric = true;
  }
  if (have_metric) {
    if (auto e = validate_metric_name(metric); !e.empty())
      return fmt::format("metric {}: {}", name_for_message(metric), e);
  }

  if (given(kValue)) {
    if (!have_metric) return "value needs a metric (or metric_type) naming it";
    const element v = reserved[kValue];
    switch (v.type()) {
      case element_type::INT64:
      case element_type::UINT64:
      case element_type::DOUBLE:
        points_.push_back({metric, v.get_double().value_unsafe()});
        break;
      case element_type::BOOL:
        points_.push_back({metric, v.get_bool().value_unsafe() ? 1.0 : 0.0});
        break;
      default:
        // A string here is a reading that cannot be stored as a point: refused, not kept.
        return fmt::format("value must be a number or boolean, got {}", type_name(v));
    }
    ++values_;
  } else if (have_metric) {
    return fmt::format("value is required with metric {}", name_for_message(metric));
  }

  if (given(kUnit)) {
    std::string_view unit;
    if (reserved[kUnit].get_string().get(unit))
      return fmt::format("unit must be a string, got {}", type_name(reserved[kUnit]));
    if (unit.size() > kMaxDeviceTextBytes)
      return fmt::format("unit is longer than {} bytes", kMaxDeviceTextBytes);
    if (have_metric)
      attributes_.push_back({metric, ".unit", unit});
    else
      attributes_.push_back({"unit", {}, unit});
  }
  return {};
}

std::string ReadingDecoder::decode(element el) {
  points_.clear();
  attributes_.clear();
  values_ = 0;
  simdjson::dom::object obj;
  if (el.get_object().get(obj))
    return fmt::format("reading must be a JSON object, got {}", type_name(el));

  element reserved[kReservedCount];
  bool present[kReservedCount] = {};
  for (simdjson::dom::key_value_pair kv : obj) {
    if (const int r = reserved_index(kv.key); r >= 0) {
      if (!present[r]) {  // with duplicate keys the first one counts
        present[r] = true;
        reserved[r] = kv.value;
      }
      continue;
    }
    if (auto e = add_field(kv.key, kv.value, {}); !e.empty()) return e;
  }
  auto given = [&](int k) { return present[k] && !reserved[k].is_null(); };

  // Device: from the reading, or the transport's.
  std::string_view device = opt_.path_device_id;
  if (given(kDeviceId)) {
    if (reserved[kDeviceId].get_string().get(device))
      return fmt::format("device_id must be a string, got {}", type_name(reserved[kDeviceId]));
    if (!opt_.path_device_id.empty() && device != opt_.path_device_id)
      return fmt::format("device_id {} does not match the device {} of the request",
                         quote_for_message(device), quote_for_message(opt_.path_device_id));
  }
  if (device.empty()) return "device_id is required";
  if (auto e = validate_device_id(device); !e.empty()) return e;

  int64_t ts_ms;
  bool has_ts;
  if (auto e = decode_time(reserved, present, ts_ms, has_ts); !e.empty()) return e;
  if (auto e = decode_metric_form(reserved, present); !e.empty()) return e;

  if (given(kValues)) {
    simdjson::dom::object values;
    if (reserved[kValues].get_object().get(values))
      return fmt::format("values must be an object, got {}", type_name(reserved[kValues]));
    for (simdjson::dom::key_value_pair kv : values)
      if (auto e = add_field(kv.key, kv.value, "values."); !e.empty()) return e;
  }
  if (given(kName)) {
    std::string_view name;
    if (reserved[kName].get_string().get(name))
      return fmt::format("name must be a string, got {}", type_name(reserved[kName]));
    if (name.size() > kMaxDeviceTextBytes)
      return fmt::format("name is longer than {} bytes", kMaxDeviceTextBytes);
    attributes_.push_back({"name", {}, name});
  }
  if (values_ == 0) return "reading has no values: expected numeric, boolean or string fields";

  if (opt_.admission) {
    metric_names_.clear();
    for (const PendingPoint& p : points_) metric_names_.push_back(p.metric);
    if (auto e = opt_.admission->admit(out_, device, metric_names_); !e.empty()) return e;
  }
  commit(device, ts_ms, has_ts);
  return {};
}

void ReadingDecoder::commit(std::string_view device, int64_t ts_ms, bool has_ts) {
  const uint32_t dev = out_.intern_device(device);
  for (const PendingPoint& p : points_) {
    if (has_ts)
      out_.add(dev, out_.intern_metric(p.metric), ts_ms, p.value);
    else
      out_.add_unstamped(dev, out_.intern_metric(p.metric), ts_ms, p.value);
  }
  for (const PendingAttribute& a : attributes_) {
    std::string key;
    key.reserve(a.key.size() + a.key_suffix.size());
    key.append(a.key).append(a.key_suffix);
    out_.add_attribute(dev, std::move(key), std::string(a.value), ts_ms);
  }
}

}  // namespace

Status decode_telemetry_json(std::string_view body, const TelemetryJsonOptions& opt, int64_t now_ms,
                             ReadingBatch& out, std::vector<ItemError>& errors,
                             size_t* items_seen) {
  if (items_seen) *items_seen = 0;
  auto parsed = parse_json(body);
  if (!parsed.ok()) return parsed.status();
  const element root = *parsed;

  ReadingDecoder decoder(opt, now_ms, out);
  simdjson::dom::array items;
  switch (root.type()) {
    case element_type::ARRAY:
      items = root.get_array().value_unsafe();
      break;
    case element_type::OBJECT: {
      element readings;
      if (root.at_key("readings").get(readings) || !readings.is_array()) {
        if (items_seen) *items_seen = 1;
        if (auto e = decoder.decode(root); !e.empty()) errors.push_back({0, std::move(e)});
        return Status::Ok();
      }
      items = readings.get_array().value_unsafe();
      break;
    }
    default:
      return Status::Unprocessable(std::string(kShapeError));
  }

  const size_t n = items.size();
  if (n > kMaxTelemetryItems)
    return Status::Unprocessable(
        fmt::format("too many readings: {} (at most {} per request)", n, kMaxTelemetryItems));
  if (items_seen) *items_seen = n;
  size_t index = 0;
  for (element item : items) {
    if (auto e = decoder.decode(item); !e.empty()) errors.push_back({index, std::move(e)});
    ++index;
  }
  return Status::Ok();
}

}  // namespace fp
