#include "monitor/status_policy.h"

#include <fmt/format.h>

#include <algorithm>

#include "model/time_format.h"

namespace fp {

StatusEvaluation evaluate_status(const StatusFacts& f, const StatusThresholds& t,
                                 const StatusPolicy& policy, int64_t now_ms) {
  StatusEvaluation e;
  if (!f.last_seen_ms) {
    e.reason = "never reported";
    return e;
  }
  const int64_t seen = *f.last_seen_ms;
  const int64_t age = now_ms - seen;
  int64_t late_after = kNoDeadline;
  if (f.cadence_ms && *f.cadence_ms > 0) {
    int64_t la = static_cast<int64_t>(static_cast<double>(*f.cadence_ms) * policy.late_factor);
    if (la < t.at_risk_after_ms) late_after = la;
  }
  // Each threshold is crossed when age becomes strictly greater than it.
  auto next_after = [&](int64_t threshold) {
    return threshold == kNoDeadline || age > threshold ? kNoDeadline : seen + threshold + 1;
  };
  e.next_change_ms = std::min(
      {next_after(late_after), next_after(t.at_risk_after_ms), next_after(t.offline_after_ms)});

  if (age > t.offline_after_ms) {
    e.status = DeviceStatus::kOffline;
    e.reason = fmt::format("not seen for more than {}", format_duration(t.offline_after_ms));
  } else if (age > t.at_risk_after_ms) {
    e.status = DeviceStatus::kAtRisk;
    e.reason = fmt::format("not seen for more than {}", format_duration(t.at_risk_after_ms));
  } else if (f.battery_level && *f.battery_level < t.low_battery_pct) {
    e.status = DeviceStatus::kAtRisk;
    e.reason = fmt::format("battery {:.0f}% below {:.0f}%", *f.battery_level, t.low_battery_pct);
  } else if (age > late_after) {
    e.status = DeviceStatus::kAtRisk;
    e.reason = fmt::format("reporting late: usually every {}", format_duration(*f.cadence_ms));
  } else {
    e.status = DeviceStatus::kOnline;
    e.reason = "reporting";
  }
  return e;
}

}  // namespace fp
