#include "promql/api_json.h"

#include <charconv>
#include <cmath>

#include "util/json_writer.h"

namespace fp::promql {
namespace {

void write_labels(JsonWriter& w, const Labels& ls) {
  w.begin_object();
  for (const auto& [n, v] : ls) w.key(n).value(v);
  w.end_object();
}

// Appends Go's strconv.FormatFloat(v, 'f', -1, 64).
void append_value(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[400];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
    out.append(buf, r.ptr);
  }
}

// Appends the timestamp as seconds with up to 3 decimals, as Prometheus's marshalTimestamp.
void append_timestamp(std::string& out, int64_t t) {
  char buf[32];
  char* p = buf;
  uint64_t u = static_cast<uint64_t>(t);
  if (t < 0) {
    *p++ = '-';
    u = 0 - u;
  }
  p = std::to_chars(p, buf + sizeof buf, u / 1000).ptr;
  if (const uint64_t frac = u % 1000; frac != 0) {
    *p++ = '.';
    *p++ = static_cast<char>('0' + frac / 100);
    *p++ = static_cast<char>('0' + frac / 10 % 10);
    *p++ = static_cast<char>('0' + frac % 10);
  }
  out.append(buf, p);
}

}  // namespace

std::string format_value(double v) {
  std::string s;
  append_value(s, v);
  return s;
}

std::string format_timestamp(int64_t t) {
  std::string s;
  append_timestamp(s, t);
  return s;
}

namespace {
void write_point(JsonWriter& w, int64_t t, double v) {
  w.begin_array().raw(format_timestamp(t)).value(format_value(v)).end_array();
}

// A matrix's points, appended straight to the output ([t,"v"],[t,"v"]...).
void append_points(std::string& out, const std::vector<Point>& pts) {
  out += '[';
  for (size_t i = 0; i < pts.size(); ++i) {
    if (i) out += ',';
    out += '[';
    append_timestamp(out, pts[i].t);
    out += ",\"";
    append_value(out, pts[i].v);
    out += "\"]";
  }
  out += ']';
}

// A matrix result written into one buffer sized up front: a 1,000-series day is ~40 MB, which
// a growing buffer would copy about twice over.
std::string matrix_json(const Matrix& m) {
  size_t points = 0;
  for (const auto& s : m) points += s.points.size();
  std::string out;
  out.reserve(points * 28 + m.size() * 128 + 64);
  out += R"({"status":"success","data":{"resultType":"matrix","result":[)";
  for (size_t i = 0; i < m.size(); ++i) {
    if (i) out += ',';
    JsonWriter labels;
    write_labels(labels, m[i].labels);
    out += R"({"metric":)";
    out += labels.str();
    out += R"(,"values":)";
    append_points(out, m[i].points);
    out += '}';
  }
  out += "]}}";
  return out;
}
}  // namespace

std::string query_result_json(const QueryValue& q, const std::vector<std::string>& warnings) {
  if (q.type == ValueType::kMatrix) {
    std::string out = matrix_json(q.series);
    if (warnings.empty()) return out;
    out.pop_back();  // the closing brace of the answer
    JsonWriter w;
    w.begin_array();
    for (const auto& s : warnings) w.value(s);
    w.end_array();
    return out + ",\"warnings\":" + w.take() + "}";
  }
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
    case ValueType::kMatrix:  // matrix_json() above
      break;
  }
  w.end_object();
  if (!warnings.empty()) {
    w.key("warnings").begin_array();
    for (const auto& s : warnings) w.value(s);
    w.end_array();
  }
  w.end_object();
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
