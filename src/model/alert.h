#pragma once
// Alert: one raised alert as the catalog stores it and the API shows it, with its lifecycle
// firing -> acknowledged -> resolved (a firing alert may also be resolved directly).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fp {

enum class AlertState : uint8_t { kFiring, kAcknowledged, kResolved };
enum class Severity : uint8_t { kInfo, kWarning, kCritical };
inline constexpr int kSeverityCount = 3;

std::string_view to_string(AlertState s);
std::optional<AlertState> parse_alert_state(std::string_view s);
std::string_view to_string(Severity s);
std::optional<Severity> parse_severity(std::string_view s);

struct Alert {
  int64_t id = 0;       // assigned by the alert engine; shown as a string
  std::string rule_id;  // empty for an alert raised by hand
  std::string device_id;
  Severity severity = Severity::kWarning;
  AlertState state = AlertState::kFiring;
  std::string message;
  std::optional<double> value;  // the reading that made the condition true, if any
  int64_t started_at_ms = 0;    // when the alert was raised (server time)
  // When its condition happened: the reading's own time for value rules (so backfilled data
  // shows when it was measured), last seen + `for` for absence, the transition for offline.
  // 0 (alerts stored before schema v5): the same as started_at_ms.
  int64_t condition_at_ms = 0;
  std::optional<int64_t> acknowledged_at_ms;
  std::string acknowledged_by;
  std::string note;  // the acknowledging (or resolving) operator's note
  std::optional<int64_t> resolved_at_ms;
  std::string resolved_by;  // "auto" when the condition cleared, else who resolved it
  int64_t updated_at_ms = 0;
  // Bumped on every change; a stored copy is only replaced by a newer version, so concurrent
  // writers cannot persist an older state over a newer one.
  int64_t version = 0;

  bool open() const { return state != AlertState::kResolved; }
};

}  // namespace fp
