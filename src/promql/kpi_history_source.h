#pragma once
// KPI history (src/kpi/kpi_history.h) as PromQL series, read from the telemetry store's
// internal KPI keys (kpi/kpi_series_keys.h):
//   fleetpulse_device_<kpi>{device_id, type, location}   per device (labels from the catalog)
//   fleetpulse_type_<kpi>{type}                          roll-up by device type
// for <kpi> in availability, uptime, response_time_ms, messages, errors, battery_level (and
// fleetpulse_type_devices). KPI series of devices no longer in the catalog are left out.

#include <optional>
#include <set>
#include <string>

#include "promql/series_source.h"
#include "promql/telemetry_source.h"
#include "storage/tsdb/time_series_store.h"

namespace fp::promql {

class KpiHistorySource : public SeriesSource {
 public:
  // `only`, when given, limits the per-device series to those devices. `store` and `devices`
  // must outlive the source. `missing`, when given, gets why readings of the selected series
  // may be missing (and must outlive it too).
  KpiHistorySource(const tsdb::TimeSeriesStore& store, const DeviceLabelMap& devices,
                   const std::set<std::string>* only = nullptr, MissingData* missing = nullptr)
      : store_(store), devices_(devices), only_(only), missing_(missing) {}
  Status select(const std::vector<LabelMatcher>& matchers, int64_t mint, int64_t maxt,
                bool with_points, QueryBudget& budget, Matrix& out) const override;

 private:
  const tsdb::TimeSeriesStore& store_;
  const DeviceLabelMap& devices_;
  const std::set<std::string>* only_;
  MissingData* missing_;  // may be null
};

// The help text of each KPI metric name, for /prometheus/api/v1/metadata.
std::vector<std::pair<std::string, std::string>> kpi_metric_help();
// The PromQL name of store series (`key`, `metric`) when `key` is a KPI history key, with its
// help text; nullopt for other keys.
std::optional<std::pair<std::string, std::string>> kpi_metric(std::string_view key,
                                                              std::string_view metric);

}  // namespace fp::promql
