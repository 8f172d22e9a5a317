#pragma once
// Device KPIs over a window, computed from a device's status timeline and its activity
// (docs/api-notes.md "KPIs" defines each figure). Pure functions: no clock, no I/O.

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "kpi/device_activity_log.h"
#include "model/device.h"

namespace fp {

// Time spent per status over a period, from the status at its start and its transitions.
struct StatusTimes {
  int64_t period_ms = 0;
  int64_t online_ms = 0;
  int64_t at_risk_ms = 0;
  int64_t offline_ms = 0;
  int failures = 0;         // transitions into offline inside the period
  int offline_periods = 0;  // offline stretches overlapping the period
};

// `transitions` are the device's transitions in [start_ms, end_ms], oldest first; the status
// before the first one is its `from`, or `current` when there is none.
StatusTimes status_times(DeviceStatus current, std::span<const StatusTransition> transitions,
                         int64_t start_ms, int64_t end_ms);

struct DeviceKpis {
  int64_t window_ms = 0;
  std::optional<double> availability_pct;  // online share of the period
  std::optional<double> uptime_pct;        // online or at_risk share
  std::optional<double> mtbf_s;            // up time / failures
  std::optional<double> mttr_s;            // offline time / offline periods
  std::optional<double> response_avg_ms;
  std::optional<double> response_p95_ms;
  std::optional<double> error_rate;  // rejected / (accepted + rejected)
  double messages_per_min = 0;
  double bytes_per_min = 0;
  std::optional<double> status_consistency;  // received / expected at the learned cadence, <= 1
  std::optional<double> battery_drain_pct_per_day;
  std::optional<int64_t> battery_empty_at_ms;
  // The counts behind the rates, and the start of the time they cover: the activity log keeps
  // 25 hours, so for a longer window the rates are over that span, not the whole window.
  uint64_t messages = 0;
  uint64_t bytes = 0;
  uint64_t rejected = 0;
  int64_t activity_since_ms = 0;
};

// Everything about one device over [start_ms, end_ms] (start_ms already clipped to when the
// device was registered). `cadence_ms` is its learned report interval, if known.
DeviceKpis compute_device_kpis(const StatusTimes& times, const DeviceActivity& activity,
                               std::optional<int64_t> cadence_ms, int64_t window_ms,
                               int64_t end_ms);

// Least-squares drain in % per day (positive: draining) and when the battery reaches 0 at
// that rate; nullopt without two samples at different times or when it is not draining.
struct BatteryForecast {
  std::optional<double> drain_pct_per_day;
  std::optional<int64_t> empty_at_ms;
};
BatteryForecast forecast_battery(std::span<const BatterySample> samples);

// Nearest-rank percentile (0 < p <= 100) of `values` (reordered).
double percentile(std::vector<double>& values, double p);

}  // namespace fp
