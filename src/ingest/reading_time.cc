#include "ingest/reading_time.h"

#include <fmt/format.h>

#include <charconv>

#include "ingest/item_error.h"

namespace fp {
namespace {

using simdjson::dom::element_type;

Precision guess_precision(double v) {
  // Epoch seconds are < 1e11 until the year 5138; milliseconds are above that since 1973.
  return v < 1e11 ? Precision::kSeconds : Precision::kMillis;
}

}  // namespace

std::string parse_reading_time(simdjson::dom::element t, std::string_view key,
                               std::optional<Precision> precision, int64_t& out_ms) {
  const auto range_error = [&] {
    return fmt::format("{} is out of range: times must lie between 1970-01-01 and 2262-04-11", key);
  };
  std::optional<int64_t> ms;
  switch (t.type()) {
    case element_type::STRING: {
      const std::string_view s = t.get_string().value_unsafe();
      int64_t n = 0;
      const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
      if (!s.empty() && s[0] != '-' && ec == std::errc() && end == s.data() + s.size()) {
        // A number sent as a string.
        ms = checked_epoch_ms(n, precision.value_or(guess_precision(static_cast<double>(n))));
      } else if (ec == std::errc::result_out_of_range) {
        return range_error();
      } else {
        auto parsed = parse_rfc3339(s);
        if (!parsed)
          return fmt::format("{} must be an RFC 3339 time or an epoch number, got {}", key,
                             quote_for_message(s));
        ms = *parsed >= 0 && *parsed <= kMaxEpochMs ? parsed : std::nullopt;
      }
      break;
    }
    case element_type::INT64: {
      const int64_t v = t.get_int64().value_unsafe();
      ms = checked_epoch_ms(v, precision.value_or(guess_precision(static_cast<double>(v))));
      break;
    }
    case element_type::UINT64:
      break;  // beyond int64: out of range in every precision
    case element_type::DOUBLE: {
      const double v = t.get_double().value_unsafe();
      ms = checked_epoch_ms(v, precision.value_or(guess_precision(v)));
      break;
    }
    default:
      return fmt::format("{} must be an RFC 3339 string or an epoch number, got {}", key,
                         t.type() == element_type::BOOL         ? "boolean"
                         : t.type() == element_type::NULL_VALUE ? "null"
                         : t.type() == element_type::ARRAY      ? "array"
                                                                : "object");
  }
  if (!ms) return range_error();
  out_ms = *ms;
  return {};
}

}  // namespace fp
