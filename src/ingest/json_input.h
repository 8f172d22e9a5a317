#pragma once
// Helpers for reading request JSON with simdjson's DOM: one parser per thread, and typed
// field accessors that turn type errors into clear kUnprocessable messages.

#include <simdjson.h>

#include <optional>
#include <string>
#include <string_view>

#include "util/result.h"

namespace fp {

// Parses `body` with this thread's parser. The element stays valid until the next call on
// the same thread. kMalformed with the parser's message when the text is not JSON.
Result<simdjson::dom::element> parse_json(std::string_view body);

// Field accessors: nullopt when the field is absent (or JSON null); kUnprocessable naming
// the field when it has the wrong type.
Result<std::optional<std::string>> optional_string(simdjson::dom::object obj, std::string_view key);
Result<std::optional<double>> optional_number(simdjson::dom::object obj, std::string_view key);
// A JSON object field serialised back to compact text; kUnprocessable if not an object.
Result<std::optional<std::string>> optional_object_text(simdjson::dom::object obj,
                                                        std::string_view key);
// A time field: RFC 3339 string or epoch number (milliseconds, or seconds when it looks
// like seconds: < 1e11), validated like every reading time (ingest/reading_time.h). nullopt
// when absent.
Result<std::optional<int64_t>> optional_time(simdjson::dom::object obj, std::string_view key);

}  // namespace fp
