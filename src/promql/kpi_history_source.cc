#include "promql/kpi_history_source.h"

#include <algorithm>

#include "kpi/kpi_series_keys.h"

namespace fp::promql {
namespace {

constexpr std::string_view kDeviceMetric = "fleetpulse_device_";
constexpr std::string_view kTypeMetric = "fleetpulse_type_";

// False when no name `prefix + kpi` can satisfy the query's __name__ matchers.
bool any_name_may_match(const std::vector<LabelMatcher>& matchers, std::string_view prefix) {
  for (std::string_view kpi : kpi_keys::kMetrics) {
    const std::string name = std::string(prefix) + std::string(kpi);
    bool ok = true;
    for (const auto& m : matchers)
      if (m.name == kMetricName && !m.matches(name)) ok = false;
    if (ok) return true;
  }
  return false;
}

}  // namespace

Status KpiHistorySource::select(const std::vector<LabelMatcher>& matchers, int64_t mint,
                                int64_t maxt, bool with_points, QueryBudget& budget,
                                Matrix& out) const {
  const auto& index = store_.index();
  const bool want_device = any_name_may_match(matchers, kDeviceMetric);
  const bool want_type = any_name_may_match(matchers, kTypeMetric);
  if (!want_device && !want_type) return Status::Ok();
  // (store key, labels without the name, metric name prefix)
  struct Owner {
    std::string key;
    Labels base;
    std::string_view prefix;
  };
  std::vector<Owner> owners;
  if (want_device) {
    std::vector<std::string> ids;
    if (only_) {
      ids.assign(only_->begin(), only_->end());
    } else {
      for (const auto& [id, _] : devices_) ids.push_back(id);
      std::sort(ids.begin(), ids.end());
    }
    for (const std::string& id : ids) {
      const auto d = devices_.find(id);
      if (d == devices_.end()) continue;  // deleted: its history is not shown
      std::string key = kpi_keys::device_key(id);
      if (!index.has_device(key)) continue;
      Labels base;
      base.emplace_back("device_id", id);
      if (!d->second.location.empty()) base.emplace_back("location", d->second.location);
      if (!d->second.type.empty()) base.emplace_back("type", d->second.type);
      owners.push_back({std::move(key), std::move(base), kDeviceMetric});
    }
  }
  if (want_type) {
    for (const std::string& key : index.devices()) {
      if (!key.starts_with(kpi_keys::kTypePrefix)) continue;
      Labels base;
      base.emplace_back("type", key.substr(kpi_keys::kTypePrefix.size()));
      owners.push_back({key, std::move(base), kTypeMetric});
    }
    std::sort(owners.begin(), owners.end(),
              [](const Owner& a, const Owner& b) { return a.key < b.key; });
  }
  for (const Owner& o : owners) {
    bool owner_ok = true;
    for (const auto& m : matchers)
      if (m.name != kMetricName && !m.matches(label_value(o.base, m.name))) owner_ok = false;
    if (!owner_ok) continue;
    for (const auto& [metric, id] : index.metrics_of(o.key)) {
      std::string name = std::string(o.prefix) + metric;
      if (missing_ && name_matches(matchers, name))  // as in TelemetrySource::select
        missing_->add(store_.missing_data(o.key, metric, mint, maxt));
      if (auto st = select_stored_series(store_, id, std::move(name), o.base, matchers, mint, maxt,
                                         with_points, budget, out);
          !st.ok())
        return st;
    }
  }
  return Status::Ok();
}

std::vector<std::pair<std::string, std::string>> kpi_metric_help() {
  return {
      {"fleetpulse_device_availability", "percent of each KPI interval the device was online"},
      {"fleetpulse_device_uptime", "percent of each KPI interval the device was online or at risk"},
      {"fleetpulse_device_response_time_ms", "mean heartbeat response time in the KPI interval"},
      {"fleetpulse_device_messages", "reports accepted from the device in the KPI interval"},
      {"fleetpulse_device_errors", "reports of the device rejected in the KPI interval"},
      {"fleetpulse_device_battery_level", "latest battery level known at each KPI sample"},
      {"fleetpulse_type_availability", "mean availability of the type's devices"},
      {"fleetpulse_type_uptime", "mean uptime of the type's devices"},
      {"fleetpulse_type_response_time_ms", "mean response time of the type's devices"},
      {"fleetpulse_type_messages", "reports accepted from the type's devices in the interval"},
      {"fleetpulse_type_errors", "reports of the type's devices rejected in the interval"},
      {"fleetpulse_type_battery_level", "mean battery level of the type's devices"},
      {"fleetpulse_type_devices", "devices of the type"},
  };
}

std::optional<std::pair<std::string, std::string>> kpi_metric(std::string_view key,
                                                              std::string_view metric) {
  std::string name;
  if (key.starts_with(kpi_keys::kDevicePrefix))
    name = std::string(kDeviceMetric) + std::string(metric);
  else if (key.starts_with(kpi_keys::kTypePrefix))
    name = std::string(kTypeMetric) + std::string(metric);
  else
    return std::nullopt;
  for (auto& [n, text] : kpi_metric_help())
    if (n == name) return std::make_pair(name, text);
  return std::make_pair(name, std::string("KPI history"));
}

}  // namespace fp::promql
