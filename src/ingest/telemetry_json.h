#pragma once
// The telemetry JSON decoder: POST /api/v1/telemetry bodies and MQTT telemetry payloads.
//
// A body is one reading object, an array of readings, or {"readings":[...]}. Each reading may
// take any of these forms, mixed freely in one body:
//   flat          {"device_id":"d1","ts":"2026-02-12T16:00:00Z","temperature":25.5,"ok":true}
//   metric/value  {"device_id":"d1","metric":"temperature","value":22.5,"unit":"celsius"}
//   metric_type   {"device_id":"d1","metric_type":"humidity","value":55.2}
//   values        {"device_id":"d1","ts":1767225600000,"values":{"temperature":21.3}}
// Numbers become points, booleans 1/0, strings device attributes (ReadingBatch::Attribute).
// The reserved keys device_id, ts, timestamp, time, metric, metric_type, value, unit, values
// and name are never metrics. Attribute keys: a flat or `values` string field keeps its key;
// `name` is kept as "name"; `unit` as "unit", or "<metric>.unit" in the metric/value forms
// (so each metric keeps its own unit). The `value` of the metric/value forms must be a number
// or a boolean: a string there is an item error (it would be neither a point nor findable).
//
// Time: `ts`, else `timestamp`, else `time`: an RFC 3339 string, an epoch number in
// `precision` (a string of digits counts as a number), or absent/null: then the reading's
// points are added unstamped at `now_ms` (ReadingBatch::add_unstamped) and the commit path
// gives each its own server timestamp. It must fall in 1970-01-01 .. 2262-04-11 (what int64
// nanoseconds can hold; ingest/reading_time.h). String attribute values are at most
// kMaxAttributeValueBytes, `name` and `unit` at most kMaxDeviceTextBytes.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/cardinality_limits.h"
#include "ingest/item_error.h"
#include "model/reading_batch.h"
#include "model/time_format.h"
#include "util/result.h"

namespace fp {

struct TelemetryJsonOptions {
  Precision precision = Precision::kMillis;  // of numeric timestamps (?precision=)
  // The device of the transport (URL path, MQTT topic). When set, readings may omit
  // device_id; one that names another device is an item error.
  std::string path_device_id;
  // The cardinality limits of the request (null: none). Each valid reading is admitted just
  // before it is added; one it refuses is an item error naming the limit.
  SeriesAdmission* admission = nullptr;
};

inline constexpr size_t kMaxTelemetryItems = 100'000;

// Decodes `body` and appends every valid reading to `out`. A reading with any error adds
// nothing (no points, attributes, devices or metric names) and is reported in `errors` with
// its array index (0 for a single reading) and a message naming the field, e.g.
// "temperature must be a number, boolean or string, got object".
//
// Returns kMalformed when the body is not JSON, kUnprocessable when it is JSON of another
// shape or holds more than kMaxTelemetryItems readings (then nothing is added); otherwise OK,
// also when some or all readings were rejected (see `errors`) or the array was empty.
//
// `*items`, when given, is set to the number of readings in the body (accepted = items -
// errors.size()). Uses this thread's JSON parser (parse_json); `out` and `errors` are the
// caller's.
Status decode_telemetry_json(std::string_view body, const TelemetryJsonOptions& opt, int64_t now_ms,
                             ReadingBatch& out, std::vector<ItemError>& errors,
                             size_t* items = nullptr);

}  // namespace fp
