#include "ingest/json_input.h"

#include <cmath>

#include "ingest/reading_time.h"

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
  int64_t ms = 0;
  if (auto e = parse_reading_time(el, key, std::nullopt, ms); !e.empty())
    return Status::Unprocessable(std::move(e));
  return std::optional<int64_t>(ms);
}

}  // namespace fp
