#include "promql/api_json.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "util/json_writer.h"

namespace fp::promql {
namespace {

void write_labels(JsonWriter& w, const Labels& ls) {
  w.begin_object();
  for (const auto& [n, v] : ls) w.key(n).value(v);
  w.end_object();
}

void write_point(JsonWriter& w, int64_t t, double v) {
  w.begin_array().raw(format_timestamp(t)).value(format_value(v)).end_array();
}

}  // namespace

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[512];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  return std::string(buf, r.ptr);
}

std::string format_timestamp(int64_t t) {
  char buf[32];
  const bool negative = t < 0;
  const uint64_t u = negative ? 0 - static_cast<uint64_t>(t) : static_cast<uint64_t>(t);
  const uint64_t frac = u % 1000;
  int n = frac == 0 ? std::snprintf(buf, sizeof buf, "%s%llu", negative ? "-" : "",
                                    static_cast<unsigned long long>(u / 1000))
                    : std::snprintf(buf, sizeof buf, "%s%llu.%03llu", negative ? "-" : "",
                                    static_cast<unsigned long long>(u / 1000),
                                    static_cast<unsigned long long>(frac));
  return std::string(buf, static_cast<size_t>(n));
}

std::string query_result_json(const QueryValue& q) {
  JsonWriter w;
  w.begin_object().field("status", "success").key("data").begin_object();
  switch (q.type) {
    case ValueType::kScalar:
      w.field("resultType", "scalar").key("result");
      write_point(w, q.t, q.scalar);
      break;
    case ValueType::kString:
      w.field("resultType", "string").key("result");
      w.begin_array().raw(format_timestamp(q.t)).value(q.str).end_array();
      break;
    case ValueType::kVector:
      w.field("resultType", "vector").key("result").begin_array();
      for (const auto& s : q.series) {
        w.begin_object().key("metric");
        write_labels(w, s.labels);
        w.key("value");
        write_point(w, q.t, s.points.front().v);
        w.end_object();
      }
      w.end_array();
      break;
    case ValueType::kMatrix:
      w.field("resultType", "matrix").key("result").begin_array();
      for (const auto& s : q.series) {
        w.begin_object().key("metric");
        write_labels(w, s.labels);
        w.key("values").begin_array();
        for (const auto& p : s.points) write_point(w, p.t, p.v);
        w.end_array().end_object();
      }
      w.end_array();
      break;
  }
  w.end_object().end_object();
  return w.take();
}

std::string series_json(const std::vector<Labels>& series) {
  JsonWriter w;
  w.begin_object().field("status", "success").key("data").begin_array();
  for (const auto& ls : series) write_labels(w, ls);
  w.end_array().end_object();
  return w.take();
}

std::string string_list_json(const std::vector<std::string>& values) {
  JsonWriter w;
  w.begin_object().field("status", "success").key("data").begin_array();
  for (const auto& v : values) w.value(v);
  w.end_array().end_object();
  return w.take();
}

std::string error_json(std::string_view type, std::string_view message) {
  JsonWriter w;
  w.begin_object()
      .field("status", "error")
      .field("errorType", type)
      .field("error", message)
      .end_object();
  return w.take();
}

}  // namespace fp::promql
