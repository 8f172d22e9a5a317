#include "http/handlers/latest_values_json.h"

#include <charconv>
#include <cmath>

#include "query/latest_values.h"
#include "util/json_writer.h"

namespace fp::http {

void append_json_string(std::string& out, std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == '"' || c == '\\')
      return JsonWriter::append_escaped(out, s);
  }
  out += '"';
  out += s;
  out += '"';
}

void append_json_number(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void add_missing(std::string& missing, const std::string& reason) {
  if (!reason.empty() && missing.find(reason) == std::string::npos)
    missing += (missing.empty() ? "" : "; ") + reason;
}

void LatestValuesJson::append_device(std::string_view device,
                                     std::optional<std::string_view> only_metric,
                                     std::string& missing) {
  std::string device_missing;
  out_ += "{\"device_id\":";
  append_json_string(out_, device);
  out_ += ",\"values\":{";
  bool first = true;
  query::for_each_latest(store_, device, only_metric, [&](std::string_view metric, auto s) {
    add_missing(device_missing, store_.missing_data(device, metric, INT64_MIN, INT64_MAX));
    if (!s) return;
    if (!first) out_ += ',';
    first = false;
    append_json_string(out_, metric);
    out_ += ":{\"value\":";
    append_json_number(out_, s->value);
    out_ += ",\"ts\":\"";
    times_.append(out_, s->ts);
    out_ += "\"}";
  });
  out_ += '}';
  if (!device_missing.empty()) {
    out_ += ",\"partial\":true,\"partial_reason\":";
    append_json_string(out_, device_missing);
    add_missing(missing, device_missing);
  }
  out_ += '}';
}

}  // namespace fp::http
