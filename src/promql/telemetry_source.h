#pragma once
// Stored telemetry as PromQL series: each (device, metric) of the TimeSeriesStore is
// <metric>{device_id, type, location} (type and location from the device catalog, left out
// when empty). Metric names are made valid Prometheus names: every character outside
// [A-Za-z0-9_:] becomes '_' and a leading digit gets a '_' before it ("env.temp" is
// env_temp).

#include <functional>
#include <set>
#include <string>
#include <unordered_map>

#include "promql/series_source.h"
#include "storage/tsdb/time_series_store.h"

namespace fp::promql {

struct DeviceLabels {
  std::string type;
  std::string location;
};
// device_id -> its catalog labels, taken once per query.
using DeviceLabelMap = std::unordered_map<std::string, DeviceLabels>;

std::string prometheus_metric_name(std::string_view metric);

// One stored series `id` as <name>{base...}: appended to `out` when it matches `matchers` and
// has points in [mint, maxt] (with_points: read them; otherwise its time span is checked),
// charged to `budget` (its error is returned). Shared by the telemetry and KPI sources.
// `grid` (with_points only): the points may be reduced as SeriesSource::select_for_steps
// allows, see read_points_for_steps.
Status select_stored_series(const tsdb::TimeSeriesStore& store, tsdb::SeriesId id, std::string name,
                            const Labels& base, const std::vector<LabelMatcher>& matchers,
                            int64_t mint, int64_t maxt, bool with_points, QueryBudget& budget,
                            Matrix& out, const StepGrid* grid = nullptr);

// The rollup width (1 h or 1 min, in ms) every instant of `grid` is a bucket boundary of, or
// 0 when there is none (a single instant, or steps or a start off the minute).
int64_t rollup_width_for(const StepGrid& grid);

// Appends the points of `id` in [mint, maxt] that an instant selector at the instants of
// `grid` can read. Where whole rollup buckets of rollup_width_for(grid) cover the range (see
// TimeSeriesStore::scan_for_aggregate), a bucket gives its last sample, and its first when
// that lies on the bucket start: the instants are all bucket boundaries, so the last point at
// or before an instant is the sample at it (a bucket's first) or the last of an earlier
// bucket — never another one. Those are raw samples with their own timestamps, so the
// lookback sees exactly what it sees in the raw points. Returns true when rollups were read;
// reads every raw point instead where no rollup (or only an older one without sample
// timestamps) covers the range.
bool read_points_for_steps(const tsdb::TimeSeriesStore& store, tsdb::SeriesId id, int64_t mint,
                           int64_t maxt, const StepGrid& grid, std::vector<Point>& out);

// Appends the samples of `id` in [mint, maxt] as runs for windows of rollup width `width`
// (window_rollup_width): a rollup bucket of `width` is one run where a compacted rollup covers
// it (TimeSeriesStore::scan_for_aggregate) and it keeps its sample timestamps and holds no NaN
// (its min/max are then those of its samples, as min/max_over_time take them); every other
// sample is a run of its own. `exact_sum`: buckets only when every sample of the series in the
// range is an integer (the buckets' `integral` column, written since it exists) and their
// magnitudes add up to at most 2^53 — then every partial sum, in any order, is exact, so a sum
// over bucket sums is Prometheus's Kahan sum over the samples, bit for bit; otherwise all raw.
// Returns true when some run is a bucket; with exact_sum, `*exact_sums` (when given) tells
// whether the sums of the runs read are exact (RunSeries::exact_sums).
bool read_runs(const tsdb::TimeSeriesStore& store, tsdb::SeriesId id, int64_t mint, int64_t maxt,
               int64_t width, bool exact_sum, std::vector<SampleRun>& out,
               bool* exact_sums = nullptr);

// True when every matcher on the metric name (__name__) accepts `name`.
bool name_matches(const std::vector<LabelMatcher>& matchers, std::string_view name);

// Reads raw points through the store's public read API. `store` and `devices` must outlive it.
class TelemetrySource : public SeriesSource {
 public:
  // `only`, when given, limits the source to those devices (the query names them all).
  // `missing`, when given, gets why readings of the selected series may be missing.
  TelemetrySource(const tsdb::TimeSeriesStore& store, const DeviceLabelMap& devices,
                  const std::set<std::string>* only = nullptr, MissingData* missing = nullptr)
      : store_(store), devices_(devices), only_(only), missing_(missing) {}
  Status select(const std::vector<LabelMatcher>& matchers, int64_t mint, int64_t maxt,
                bool with_points, QueryBudget& budget, Matrix& out) const override;
  // Reads rollups where they give the same answer (read_points_for_steps).
  Status select_for_steps(const std::vector<LabelMatcher>& matchers, int64_t mint, int64_t maxt,
                          const StepGrid& grid, QueryBudget& budget, Matrix& out) const override;
  // Reads rollup buckets as runs where they give the same answer (read_runs).
  Status select_runs(const std::vector<LabelMatcher>& matchers, int64_t mint, int64_t maxt,
                     int64_t width, bool exact_sum, QueryBudget& budget,
                     std::vector<RunSeries>& out) const override;

 private:
  // Calls each(id, name, base labels) for every stored series whose device passes the
  // device-level matchers, in device order; stops at the first error.
  using EachSeries = std::function<Status(tsdb::SeriesId id, std::string name, const Labels& base)>;
  Status for_each_series(const std::vector<LabelMatcher>& matchers, int64_t mint, int64_t maxt,
                         const EachSeries& each) const;
  const tsdb::TimeSeriesStore& store_;
  const DeviceLabelMap& devices_;
  const std::set<std::string>* only_;
  MissingData* missing_;  // may be null
};

}  // namespace fp::promql
