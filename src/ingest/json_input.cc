#include "ingest/json_input.h"

#include <cmath>

#include "model/time_format.h"

namespace fp {

Result<simdjson::dom::element> parse_json(std::string_view body) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element el;
  auto err = parser.parse(body.data(), body.size(), true).get(el);
  if (err) return Status::Malformed(std::string("malformed JSON: ") + simdjson::error_message(err));
  return el;
}

Result<std::optional<std::string>> optional_string(simdjson::dom::object obj,
                                                   std::string_view key) {
  simdjson::dom::element el;
  if (obj.at_key(key).get(el) || el.is_null()) return std::optional<std::string>();
  std::string_view sv;
  if (el.get_string().get(sv)) return Status::Unprocessable(std::string(key) + " must be a string");
  return std::optional<std::string>(std::string(sv));
}

Result<std::optional<double>> optional_number(simdjson::dom::object obj, std::string_view key) {
  simdjson::dom::element el;
  if (obj.at_key(key).get(el) || el.is_null()) return std::optional<double>();
  double d;
  if (!el.is_number() || el.get_double().get(d) || !std::isfinite(d))
    return Status::Unprocessable(std::string(key) + " must be a number");
  return std::optional<double>(d);
}

Result<std::optional<std::string>> optional_object_text(simdjson::dom::object obj,
                                                        std::string_view key) {
  simdjson::dom::element el;
  if (obj.at_key(key).get(el) || el.is_null()) return std::optional<std::string>();
  if (!el.is_object()) return Status::Unprocessable(std::string(key) + " must be a JSON object");
  return std::optional<std::string>(simdjson::minify(el));
}

Result<std::optional<int64_t>> optional_time(simdjson::dom::object obj, std::string_view key) {
  simdjson::dom::element el;
  if (obj.at_key(key).get(el) || el.is_null()) return std::optional<int64_t>();
  std::string_view sv;
  if (!el.get_string().get(sv)) {
    auto t = parse_rfc3339(sv);
    if (!t)
      return Status::Unprocessable(std::string(key) + " is not an RFC 3339 time: '" +
                                   std::string(sv) + "'");
    return std::optional<int64_t>(*t);
  }
  double d;
  if (el.is_number() && !el.get_double().get(d) && std::isfinite(d)) {
    if (d < 0) return Status::Unprocessable(std::string(key) + " must not be negative");
    // Epoch seconds are < 1e11 until the year 5138; milliseconds are above that since 1973.
    return std::optional<int64_t>(d < 1e11 ? epoch_to_ms(d, Precision::kSeconds)
                                           : epoch_to_ms(d, Precision::kMillis));
  }
  return Status::Unprocessable(std::string(key) + " must be an RFC 3339 string or epoch number");
}

}  // namespace fp
