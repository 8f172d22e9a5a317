#pragma once
// StatusPolicy: the thresholds that decide whether a device is online, at risk or offline,
// globally and per device type, and evaluate_status(), the pure rule that applies them.

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "model/device.h"

namespace fp {

struct StatusThresholds {
  int64_t at_risk_after_ms = 2 * 60'000;
  int64_t offline_after_ms = 5 * 60'000;
  double low_battery_pct = 20.0;
};

struct StatusPolicy {
  StatusThresholds defaults;
  std::map<std::string, StatusThresholds, std::less<>> by_type;
  // A device whose learned reporting interval is I counts as late (at risk) once it has been
  // silent for late_factor * I, if that is sooner than at_risk_after. Learning needs
  // cadence_min_samples intervals first.
  double late_factor = 3.0;
  int cadence_min_samples = 5;

  const StatusThresholds& for_type(std::string_view type) const {
    auto it = by_type.find(type);
    return it == by_type.end() ? defaults : it->second;
  }
};

inline constexpr int64_t kNoDeadline = std::numeric_limits<int64_t>::max();

struct StatusFacts {
  std::optional<int64_t> last_seen_ms;  // never reported: status unknown
  std::optional<double> battery_level;
  std::optional<int64_t> cadence_ms;  // learned reporting interval, when known
};

struct StatusEvaluation {
  DeviceStatus status = DeviceStatus::kUnknown;
  std::string reason;
  int64_t next_change_ms = kNoDeadline;  // the earliest time the result can change by itself
};

// The status of a device at `now_ms`. Pure: same inputs, same answer.
StatusEvaluation evaluate_status(const StatusFacts& facts, const StatusThresholds& t,
                                 const StatusPolicy& policy, int64_t now_ms);

}  // namespace fp
