#pragma once
// The JSON of the latest endpoints (GET /api/v1/devices/{id}/latest and /api/v1/latest),
// written straight into the answer's string: a fleet's latest values are tens of thousands of
// small objects, where a general JSON writer's per-character appends and a formatted time each
// cost more than reading the values. The bytes are those JsonWriter and format_rfc3339 write.

#include <optional>
#include <string>
#include <string_view>

#include "query/rfc3339_appender.h"
#include "storage/tsdb/time_series_store.h"

namespace fp::http {

// Writes one device's latest values, one answer at a time (not thread-safe).
class LatestValuesJson {
 public:
  // Appends to `out`, which must outlive this object.
  LatestValuesJson(const tsdb::TimeSeriesStore& store, std::string& out)
      : store_(store), out_(out) {}

  // Appends {"device_id":…,"values":{"<metric>":{"value":…,"ts":"…"},…}} (with `only_metric`,
  // that metric alone), plus "partial":true and "partial_reason" when a newer value may be
  // unreadable; the reason is also added to `missing` ("; "-separated, each once).
  void append_device(std::string_view device, std::optional<std::string_view> only_metric,
                     std::string& missing);

 private:
  const tsdb::TimeSeriesStore& store_;
  std::string& out_;
  query::Rfc3339Appender times_;
};

// Appends `s` as a JSON string (quoted, escaped as JsonWriter escapes).
void append_json_string(std::string& out, std::string_view s);
// Appends `v` as JsonWriter writes a double (shortest round trip; null when not finite).
void append_json_number(std::string& out, double v);
// Adds `reason` to the "; "-separated list `missing` unless it is there already.
void add_missing(std::string& missing, const std::string& reason);

}  // namespace fp::http
