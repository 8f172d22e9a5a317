#include "promql/api_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "promql/matrix_answer.h"
#include "util/json_writer.h"

namespace fp::promql {
namespace {

void write_labels(JsonWriter& w, const Labels& ls) {
  w.begin_object();
  for (const auto& [n, v] : ls) w.key(n).value(v);
  w.end_object();
}

}  // namespace

// Go's strconv.FormatFloat(v, 'f', -1, 64).
char* write_value(char* p, double v) {
  if (std::isnan(v)) return std::copy_n("NaN", 3, p);
  if (std::isinf(v)) return std::copy_n(v > 0 ? "+Inf" : "-Inf", 4, p);
  return std::to_chars(p, p + kMaxValueChars, v, std::chars_format::fixed).ptr;
}

// Seconds with up to 3 decimals, as Prometheus's marshalTimestamp.
char* write_timestamp(char* p, int64_t t) {
  uint64_t u = static_cast<uint64_t>(t);
  if (t < 0) {
    *p++ = '-';
    u = 0 - u;
  }
  p = std::to_chars(p, p + kMaxTimestampChars - 1, u / 1000).ptr;
  if (const uint64_t frac = u % 1000; frac != 0) {
    *p++ = '.';
    *p++ = static_cast<char>('0' + frac / 100);
    *p++ = static_cast<char>('0' + frac / 10 % 10);
    *p++ = static_cast<char>('0' + frac % 10);
  }
  return p;
}

std::string format_value(double v) {
  char buf[kMaxValueChars];
  return std::string(buf, write_value(buf, v));
}

std::string format_timestamp(int64_t t) {
  char buf[kMaxTimestampChars];
  return std::string(buf, write_timestamp(buf, t));
}

namespace {
void write_point(JsonWriter& w, int64_t t, double v) {
  w.begin_array().raw(format_timestamp(t)).value(format_value(v)).end_array();
}

}  // namespace

std::string query_result_json(const QueryValue& q, const std::vector<std::string>& warnings) {
  if (q.type == ValueType::kMatrix) {
    std::string out;
    out.reserve(matrix_answer_size_hint(q.series));
    write_matrix_answer(q.series, warnings, AnswerSteps{},
                        [&out](std::string_view piece) { out.append(piece); });
    return out;
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
    case ValueType::kMatrix:  // write_matrix_answer() above
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
