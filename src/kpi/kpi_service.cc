#include "kpi/kpi_service.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <unordered_map>

namespace fp {
namespace {

// Sums of the per-device figures of one group, turned into the group's KPIs by finish().
struct GroupAccumulator {
  int64_t devices = 0;
  int64_t with_period = 0;
  double availability_sum = 0, uptime_sum = 0;
  int64_t up_ms = 0, offline_ms = 0;
  int failures = 0, offline_periods = 0;
  std::vector<double> response_ms;
  uint64_t messages = 0, rejected = 0;
  double messages_per_min = 0, bytes_per_min = 0;
  double consistency_sum = 0;
  int64_t consistency_n = 0;
  double drain_sum = 0;
  int64_t drain_n = 0;
  std::optional<int64_t> first_empty_ms;
  uint64_t bytes = 0;
  std::optional<int64_t> activity_since_ms;  // the earliest of the group's devices

  void add(const StatusTimes& t, const DeviceActivity& a, const DeviceKpis& k) {
    ++devices;
    if (k.availability_pct) {
      ++with_period;
      availability_sum += *k.availability_pct;
      uptime_sum += *k.uptime_pct;
    }
    up_ms += t.online_ms + t.at_risk_ms;
    offline_ms += t.offline_ms;
    failures += t.failures;
    offline_periods += t.offline_periods;
    response_ms.insert(response_ms.end(), a.response_ms.begin(), a.response_ms.end());
    messages += a.totals.messages;
    rejected += a.totals.rejected;
    bytes += a.totals.bytes;
    if (!activity_since_ms || k.activity_since_ms < *activity_since_ms)
      activity_since_ms = k.activity_since_ms;
    messages_per_min += k.messages_per_min;
    bytes_per_min += k.bytes_per_min;
    if (k.status_consistency) {
      consistency_sum += *k.status_consistency;
      ++consistency_n;
    }
    if (k.battery_drain_pct_per_day) {
      drain_sum += *k.battery_drain_pct_per_day;
      ++drain_n;
    }
    if (k.battery_empty_at_ms && (!first_empty_ms || *k.battery_empty_at_ms < *first_empty_ms))
      first_empty_ms = k.battery_empty_at_ms;
  }

  GroupKpis finish(std::string key, int64_t window_ms) {
    GroupKpis g{std::move(key), devices, {}};
    DeviceKpis& k = g.kpis;
    k.window_ms = window_ms;
    if (with_period > 0) {
      k.availability_pct = availability_sum / static_cast<double>(with_period);
      k.uptime_pct = uptime_sum / static_cast<double>(with_period);
    }
    if (failures > 0) k.mtbf_s = static_cast<double>(up_ms) / 1000.0 / failures;
    if (offline_periods > 0) k.mttr_s = static_cast<double>(offline_ms) / 1000.0 / offline_periods;
    if (!response_ms.empty()) {
      k.response_avg_ms = std::accumulate(response_ms.begin(), response_ms.end(), 0.0) /
                          static_cast<double>(response_ms.size());
      k.response_p95_ms = percentile(response_ms, 95);
    }
    if (messages + rejected > 0)
      k.error_rate = static_cast<double>(rejected) / static_cast<double>(messages + rejected);
    k.messages_per_min = messages_per_min;
    k.bytes_per_min = bytes_per_min;
    if (consistency_n > 0)
      k.status_consistency = consistency_sum / static_cast<double>(consistency_n);
    if (drain_n > 0) k.battery_drain_pct_per_day = drain_sum / static_cast<double>(drain_n);
    k.battery_empty_at_ms = first_empty_ms;
    k.messages = messages;
    k.bytes = bytes;
    k.rejected = rejected;
    k.activity_since_ms = activity_since_ms.value_or(0);
    return g;
  }
};

}  // namespace

Result<DeviceKpis> DeviceKpiService::device(const std::string& id, int64_t window_ms) const {
  FP_ASSIGN_OR_RETURN(Device d, catalog_.get_device(id));
  const int64_t now = clock_.now_ms();
  const int64_t start = std::max(now - window_ms, d.created_at_ms);
  FP_ASSIGN_OR_RETURN(std::vector<StatusTransition> history,
                      catalog_.status_history(id, start, now, 1'000'000));
  const auto live = tracker_.get(id);
  const DeviceStatus current = live ? live->status : d.status;
  const StatusTimes times = status_times(current, history, start, now);
  // Activity by its own times (a backfilled battery series may predate the registration).
  const DeviceActivity activity = activity_.activity(id, now - window_ms);
  return compute_device_kpis(times, activity, live ? live->cadence_ms : std::nullopt, window_ms,
                             now);
}

Result<FleetKpis> DeviceKpiService::summary(int64_t window_ms, KpiGroupBy group_by) const {
  const int64_t now = clock_.now_ms();
  const int64_t window_start = now - window_ms;
  FP_ASSIGN_OR_RETURN(std::vector<Device> devices, catalog_.load_all_devices());
  // One scan of the window's history, grouped by device.
  std::unordered_map<std::string, std::vector<StatusTransition>> history;
  FP_RETURN_IF_ERROR(catalog_.scan_status_history(
      window_start, [&](const StatusTransition& t) { history[t.device_id].push_back(t); }));

  FleetKpis out;
  out.window_ms = window_ms;
  GroupAccumulator fleet;
  std::map<std::string, GroupAccumulator> groups;
  static const std::vector<StatusTransition> kNone;
  for (const Device& d : devices) {
    const int64_t start = std::max(window_start, d.created_at_ms);
    const auto it = history.find(d.device_id);
    std::span<const StatusTransition> in_window = it == history.end() ? kNone : it->second;
    while (!in_window.empty() && in_window.front().at_ms < start) in_window = in_window.subspan(1);
    const auto live = tracker_.get(d.device_id);
    const StatusTimes times = status_times(live ? live->status : d.status, in_window, start, now);
    const DeviceActivity activity = activity_.activity(d.device_id, window_start);
    const DeviceKpis k = compute_device_kpis(
        times, activity, live ? live->cadence_ms : std::nullopt, window_ms, now);
    fleet.add(times, activity, k);
    if (group_by == KpiGroupBy::kType)
      groups[d.type].add(times, activity, k);
    else if (group_by == KpiGroupBy::kLocation)
      groups[d.location].add(times, activity, k);
  }
  out.fleet = fleet.finish("all", window_ms);
  for (auto& [key, acc] : groups) out.groups.push_back(acc.finish(key, window_ms));
  return out;
}

}  // namespace fp
