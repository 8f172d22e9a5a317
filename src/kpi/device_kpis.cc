#include "kpi/device_kpis.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace fp {

StatusTimes status_times(DeviceStatus current, std::span<const StatusTransition> transitions,
                         int64_t start_ms, int64_t end_ms) {
  StatusTimes t;
  t.period_ms = std::max<int64_t>(0, end_ms - start_ms);
  DeviceStatus status = transitions.empty() ? current : transitions.front().from;
  int64_t since = start_ms;
  auto account = [&](int64_t until) {
    const int64_t d = std::max<int64_t>(0, std::min(until, end_ms) - std::max(since, start_ms));
    switch (status) {
      case DeviceStatus::kOnline:
        t.online_ms += d;
        break;
      case DeviceStatus::kAtRisk:
        t.at_risk_ms += d;
        break;
      case DeviceStatus::kOffline:
        t.offline_ms += d;
        break;
      case DeviceStatus::kUnknown:
        break;
    }
  };
  if (status == DeviceStatus::kOffline) ++t.offline_periods;
  for (const StatusTransition& tr : transitions) {
    account(tr.at_ms);
    if (tr.to == DeviceStatus::kOffline && status != DeviceStatus::kOffline) {
      ++t.failures;
      ++t.offline_periods;
    }
    status = tr.to;
    since = tr.at_ms;
  }
  account(end_ms);
  return t;
}

double percentile(std::vector<double>& values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

BatteryForecast forecast_battery(std::span<const BatterySample> samples) {
  BatteryForecast f;
  if (samples.size() < 2) return f;
  // Least squares of level over time (times relative to the first sample, in days).
  const double t0 = static_cast<double>(samples.front().at_ms);
  double st = 0, sl = 0, stt = 0, stl = 0;
  for (const BatterySample& s : samples) {
    const double t = (static_cast<double>(s.at_ms) - t0) / 86'400'000.0;
    st += t;
    sl += s.level;
    stt += t * t;
    stl += t * s.level;
  }
  const double n = static_cast<double>(samples.size());
  const double denom = n * stt - st * st;
  if (denom <= 0) return f;
  const double slope = (n * stl - st * sl) / denom;  // % per day
  f.drain_pct_per_day = -slope;
  if (slope < 0) {
    const BatterySample& last = samples.back();
    f.empty_at_ms =
        last.at_ms + static_cast<int64_t>(std::llround(last.level / -slope * 86'400'000.0));
  }
  return f;
}

DeviceKpis compute_device_kpis(const StatusTimes& times, const DeviceActivity& activity,
                               std::optional<int64_t> cadence_ms, int64_t window_ms,
                               int64_t end_ms) {
  DeviceKpis k;
  k.window_ms = window_ms;
  k.messages = activity.totals.messages;
  k.bytes = activity.totals.bytes;
  k.rejected = activity.totals.rejected;
  // Rates over the part of the period the counts cover (all of it for windows up to 24 h).
  k.activity_since_ms = std::max(end_ms - times.period_ms, activity.totals_since_ms);
  const int64_t span_ms = std::min(times.period_ms, end_ms - k.activity_since_ms);
  if (times.period_ms > 0) {
    const double period = static_cast<double>(times.period_ms);
    k.availability_pct = 100.0 * static_cast<double>(times.online_ms) / period;
    k.uptime_pct = 100.0 * static_cast<double>(times.online_ms + times.at_risk_ms) / period;
  }
  if (span_ms > 0) {
    const double span = static_cast<double>(span_ms);
    const double minutes = span / 60'000.0;
    k.messages_per_min = static_cast<double>(activity.totals.messages) / minutes;
    k.bytes_per_min = static_cast<double>(activity.totals.bytes) / minutes;
    if (cadence_ms && *cadence_ms > 0) {
      const double expected = span / static_cast<double>(*cadence_ms);
      if (expected >= 1)
        k.status_consistency =
            std::min(1.0, static_cast<double>(activity.totals.messages) / expected);
    }
  }
  if (times.failures > 0)
    k.mtbf_s = static_cast<double>(times.online_ms + times.at_risk_ms) / 1000.0 / times.failures;
  if (times.offline_periods > 0)
    k.mttr_s = static_cast<double>(times.offline_ms) / 1000.0 / times.offline_periods;
  if (!activity.response_ms.empty()) {
    std::vector<double> v = activity.response_ms;
    k.response_avg_ms = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
    k.response_p95_ms = percentile(v, 95);
  }
  const uint64_t seen = activity.totals.messages + activity.totals.rejected;
  if (seen > 0)
    k.error_rate = static_cast<double>(activity.totals.rejected) / static_cast<double>(seen);
  const BatteryForecast b = forecast_battery(activity.battery);
  k.battery_drain_pct_per_day = b.drain_pct_per_day;
  k.battery_empty_at_ms = b.empty_at_ms;
  return k;
}

}  // namespace fp
