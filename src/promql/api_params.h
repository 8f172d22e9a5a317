#pragma once
// Parameters of the Prometheus HTTP API (api/v1) as Prometheus 2.42 parses them: `time`,
// `start`, `end` and `step`. Shared by the query handlers and the cluster's gathering node,
// so both accept and refuse exactly the same values.

#include <cstdint>
#include <optional>
#include <string>

namespace fp::promql {

// At most this many points per series in a range query (Prometheus's 11,000).
inline constexpr int64_t kMaxPointsPerSeries = 11000;

// Prometheus's parseTime: float seconds ("1435781451.781") or RFC 3339; milliseconds, or
// nullopt when it is neither or out of range.
std::optional<int64_t> parse_api_time(const std::string& s);

// Prometheus's parseDuration for `step`: float seconds or a duration like "1m"; milliseconds,
// or nullopt.
std::optional<int64_t> parse_api_step(const std::string& s);

}  // namespace fp::promql
