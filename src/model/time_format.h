#pragma once
// Parsing and formatting of the times the API speaks: RFC 3339 strings, epoch numbers with a
// precision, durations ("90s", "5m", "24h", "7d") and relative query bounds ("now", "-15m").
// All results are milliseconds since the Unix epoch (UTC).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fp {

enum class Precision { kSeconds, kMillis, kMicros, kNanos };

// "s", "ms", "us", "ns" (also "u" and "n" as InfluxDB writes them); nullopt otherwise.
std::optional<Precision> parse_precision(std::string_view s);

// The latest instant int64 nanoseconds can hold (2262-04-11T23:47:16.854Z): readings must
// lie in [0, kMaxEpochMs] so that every precision can represent them.
inline constexpr int64_t kMaxEpochMs = INT64_MAX / 1'000'000;

// An epoch number in the given precision as milliseconds, or nullopt when it falls outside
// [0, kMaxEpochMs] (no overflow for any input).
std::optional<int64_t> checked_epoch_ms(int64_t value, Precision p);
std::optional<int64_t> checked_epoch_ms(double value, Precision p);

// Converts an epoch number in the given precision to milliseconds.
int64_t epoch_to_ms(double value, Precision p);
int64_t epoch_to_ms(int64_t value, Precision p);

// RFC 3339 / ISO 8601: "2026-02-12T16:00:00Z", with optional fraction and +hh:mm offset,
// 'T' or ' ' as separator. nullopt when malformed or out of range.
std::optional<int64_t> parse_rfc3339(std::string_view s);

// "2026-02-12T16:00:00.000Z".
std::string format_rfc3339(int64_t ms);
void append_rfc3339(std::string& out, int64_t ms);

// "250ms", "90s", "5m", "2h", "7d", "1w", or a bare number of seconds. Combinations such as
// "1h30m" are accepted. nullopt when malformed or negative.
std::optional<int64_t> parse_duration_ms(std::string_view s);

// "90s"-style text for a duration, for messages and config dumps.
std::string format_duration(int64_t ms);

// A query bound: "now", "-15m" / "now-15m" (relative to now_ms), RFC 3339, or epoch
// milliseconds (or the given precision).
std::optional<int64_t> parse_time_bound(std::string_view s, int64_t now_ms,
                                        Precision p = Precision::kMillis);

}  // namespace fp
