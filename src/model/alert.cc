#include "model/alert.h"

namespace fp {

std::string_view to_string(AlertState s) {
  switch (s) {
    case AlertState::kAcknowledged:
      return "acknowledged";
    case AlertState::kResolved:
      return "resolved";
    case AlertState::kFiring:
      break;
  }
  return "firing";
}

std::optional<AlertState> parse_alert_state(std::string_view s) {
  if (s == "firing") return AlertState::kFiring;
  if (s == "acknowledged") return AlertState::kAcknowledged;
  if (s == "resolved") return AlertState::kResolved;
  return std::nullopt;
}

std::string_view to_string(Severity s) {
  switch (s) {
    case Severity::kInfo:
      return "info";
    case Severity::kCritical:
      return "critical";
    case Severity::kWarning:
      break;
  }
  return "warning";
}

std::optional<Severity> parse_severity(std::string_view s) {
  if (s == "info") return Severity::kInfo;
  if (s == "warning") return Severity::kWarning;
  if (s == "critical") return Severity::kCritical;
  return std::nullopt;
}

}  // namespace fp
