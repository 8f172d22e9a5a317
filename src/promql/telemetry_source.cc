#include "promql/telemetry_source.h"

#include <cctype>

#include "ingest/derived_series.h"

namespace fp::promql {

std::string prometheus_metric_name(std::string_view metric) {
  std::string out;
  out.reserve(metric.size() + 1);
  if (!metric.empty() && std::isdigit(static_cast<unsigned char>(metric[0]))) out += '_';
  for (char c : metric) {
    const bool ok = c == '_' || c == ':' || std::isalnum(static_cast<unsigned char>(c));
    out += ok ? c : '_';
  }
  return out;
}

Status select_stored_series(const tsdb::TimeSeriesStore& store, tsdb::SeriesId id, std::string name,
                            const Labels& base, const std::vector<LabelMatcher>& matchers,
                            int64_t mint, int64_t maxt, bool with_points, QueryBudget& budget,
                            Matrix& out) {
  Labels ls;
  ls.reserve(base.size() + 1);
  ls.emplace_back(std::string(kMetricName), std::move(name));
  ls.insert(ls.end(), base.begin(), base.end());
  if (!matches_all(matchers, ls)) return Status::Ok();
  Series s{std::move(ls), {}};
  if (with_points) {
    store.scan(id, mint, maxt, [&](const tsdb::Sample& p) { s.points.push_back({p.ts, p.value}); });
    if (s.points.empty()) return Status::Ok();
  } else {
    auto span = store.time_span(id);
    if (!span || span->second < mint || span->first > maxt) return Status::Ok();
  }
  if (auto st = budget.take_series(); !st.ok()) return st;
  if (auto st = budget.take_points(s.points.size()); !st.ok()) return st;
  out.push_back(std::move(s));
  return Status::Ok();
}

bool name_matches(const std::vector<LabelMatcher>& matchers, std::string_view name) {
  for (const auto& m : matchers)
    if (m.name == kMetricName && !m.matches(name)) return false;
  return true;
}

Status TelemetrySource::select(const std::vector<LabelMatcher>& matchers, int64_t mint,
                               int64_t maxt, bool with_points, QueryBudget& budget,
                               Matrix& out) const {
  const auto& index = store_.index();
  std::vector<std::string> devices;
  if (only_) {
    for (const auto& d : *only_)
      if (index.has_device(d)) devices.push_back(d);
  } else {
    devices = index.devices();
  }
  for (const std::string& device : devices) {
    if (is_internal_series_key(device)) continue;  // KPI history: kpi_history_source.h
    Labels base;
    base.emplace_back("device_id", device);
    if (auto d = devices_.find(device); d != devices_.end()) {
      if (!d->second.location.empty()) base.emplace_back("location", d->second.location);
      if (!d->second.type.empty()) base.emplace_back("type", d->second.type);
    }
    // Device-level matchers first: most selectors name a few devices or types.
    bool device_ok = true;
    for (const auto& m : matchers)
      if (m.name != kMetricName && !m.matches(label_value(base, m.name))) device_ok = false;
    if (!device_ok) continue;
    for (const auto& [metric, id] : index.metrics_of(device)) {
      std::string name = prometheus_metric_name(metric);
      // A selected series whose readings were lost may have none left to select it by.
      if (missing_ && name_matches(matchers, name))
        missing_->add(store_.missing_data(device, metric, mint, maxt));
      if (auto st = select_stored_series(store_, id, std::move(name), base, matchers, mint, maxt,
                                         with_points, budget, out);
          !st.ok())
        return st;
    }
  }
  return Status::Ok();
}

}  // namespace fp::promql
