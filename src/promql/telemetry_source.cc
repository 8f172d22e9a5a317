#include "promql/telemetry_source.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <span>

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

namespace {

// <name>{base...}
Labels series_labels(std::string name, const Labels& base) {
  Labels ls;
  ls.reserve(base.size() + 1);
  ls.emplace_back(std::string(kMetricName), std::move(name));
  ls.insert(ls.end(), base.begin(), base.end());
  return ls;
}

}  // namespace

Status select_stored_series(const tsdb::TimeSeriesStore& store, tsdb::SeriesId id, std::string name,
                            const Labels& base, const std::vector<LabelMatcher>& matchers,
                            int64_t mint, int64_t maxt, bool with_points, QueryBudget& budget,
                            Matrix& out, const StepGrid* grid) {
  Labels ls = series_labels(std::move(name), base);
  if (!matches_all(matchers, ls)) return Status::Ok();
  Series s{std::move(ls), {}};
  if (with_points) {
    if (grid)
      read_points_for_steps(store, id, mint, maxt, *grid, s.points);
    else
      store.scan(id, mint, maxt, [&](const tsdb::Sample& p) {
        s.points.push_back({p.ts, p.value});
      });
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

int64_t rollup_width_for(const StepGrid& grid) {
  for (const int64_t w : {int64_t{3'600'000}, int64_t{60'000}})
    if (grid.step > 0 && grid.step % w == 0 && grid.first % w == 0) return w;
  return 0;
}

bool read_points_for_steps(const tsdb::TimeSeriesStore& store, tsdb::SeriesId id, int64_t mint,
                           int64_t maxt, const StepGrid& grid, std::vector<Point>& out) {
  auto all_raw = [&] {
    store.scan(id, mint, maxt, [&](const tsdb::Sample& p) { out.push_back({p.ts, p.value}); });
  };
  const int64_t width = rollup_width_for(grid);
  if (width == 0) {
    all_raw();
    return false;
  }
  const size_t begin = out.size();
  bool buckets = false, complete = true;
  store.scan_for_aggregate(
      id, mint, maxt, width,
      [&](const tsdb::Sample& p) {
        out.push_back({p.ts, p.value});
      },
      [&](const tsdb::RollupBucket& b) {
        buckets = true;
        if (!b.has_times) complete = false;
        if (!complete) return;
        if (b.first_ts == b.start && b.first_ts != b.last_ts) out.push_back({b.first_ts, b.first});
        out.push_back({b.last_ts, b.last});
      });
  if (complete) return buckets;
  out.resize(begin);
  all_raw();
  return false;
}

namespace {

SampleRun raw_run(const tsdb::Sample& p) {
  return {p.ts, p.ts, p.value, p.value, p.value, p.value, 1};
}

bool is_integer(double v) {
  return std::isfinite(v) && v == std::trunc(v);
}

// True when every sample behind `runs` is an integer (`buckets_integral`: those of the runs
// with count > 1 are) and their magnitudes add up to at most 2^53 (bounded by count x the
// larger of |min|, |max| per run).
bool sums_exactly(std::span<const SampleRun> runs, bool buckets_integral) {
  double bound = 0;
  for (const SampleRun& r : runs) {
    if (r.count > 1 ? !buckets_integral : !is_integer(r.first)) return false;
    bound += static_cast<double>(r.count) * std::max(std::fabs(r.min), std::fabs(r.max));
    if (!(bound <= 9'007'199'254'740'992.0)) return false;
  }
  return true;
}

}  // namespace

bool read_runs(const tsdb::TimeSeriesStore& store, tsdb::SeriesId id, int64_t mint, int64_t maxt,
               int64_t width, bool exact_sum, std::vector<SampleRun>& out, bool* exact_sums) {
  const size_t begin = out.size();
  // Buckets that cannot stand for their samples (no sample timestamps: an older payload; NaN
  // among the samples) are read raw afterwards: the scan holds the store's read lock.
  std::vector<size_t> unusable;  // positions in `out` holding such a bucket
  bool buckets_integral = true;  // every usable bucket is known to hold integers only
  store.scan_for_aggregate(
      id, mint, maxt, width, [&](const tsdb::Sample& p) { out.push_back(raw_run(p)); },
      [&](const tsdb::RollupBucket& b) {
        if (!b.has_times || std::isnan(b.sum))
          unusable.push_back(out.size());
        else if (!(b.has_integral && b.integral))
          buckets_integral = false;
        out.push_back({b.has_times ? b.first_ts : b.start, b.has_times ? b.last_ts : b.start,
                       b.first, b.min, b.max, b.sum, b.count});
      });
  if (!unusable.empty()) {
    std::vector<SampleRun> read(out.begin() + static_cast<std::ptrdiff_t>(begin), out.end());
    out.resize(begin);
    size_t next = 0;
    for (size_t i = 0; i < read.size(); ++i) {
      if (next < unusable.size() && unusable[next] == begin + i) {
        ++next;
        const int64_t start = read[i].first_t - (read[i].first_t % width + width) % width;
        store.scan(id, std::max(start, mint), std::min(start + width - 1, maxt),
                   [&](const tsdb::Sample& p) { out.push_back(raw_run(p)); });
      } else {
        out.push_back(read[i]);
      }
    }
  }
  const std::span<const SampleRun> runs(out.data() + begin, out.size() - begin);
  const bool buckets =
      std::any_of(runs.begin(), runs.end(), [](const SampleRun& r) { return r.count > 1; });
  if (!exact_sum) return buckets;
  if (exact_sums) *exact_sums = sums_exactly(runs, buckets_integral);
  if (!buckets || sums_exactly(runs, buckets_integral)) return buckets;
  out.resize(begin);
  store.scan(id, mint, maxt, [&](const tsdb::Sample& p) { out.push_back(raw_run(p)); });
  // The raw samples' own bound is tighter than the buckets' (count x largest magnitude).
  if (exact_sums)
    *exact_sums =
        sums_exactly(std::span<const SampleRun>(out.data() + begin, out.size() - begin), true);
  return false;
}

bool name_matches(const std::vector<LabelMatcher>& matchers, std::string_view name) {
  for (const auto& m : matchers)
    if (m.name == kMetricName && !m.matches(name)) return false;
  return true;
}

Status TelemetrySource::select(const std::vector<LabelMatcher>& matchers, int64_t mint,
                               int64_t maxt, bool with_points, QueryBudget& budget,
                               Matrix& out) const {
  return for_each_series(matchers, mint, maxt,
                         [&](tsdb::SeriesId id, std::string name, const Labels& base) {
                           return select_stored_series(store_, id, std::move(name), base, matchers,
                                                       mint, maxt, with_points, budget, out);
                         });
}

Status TelemetrySource::select_for_steps(const std::vector<LabelMatcher>& matchers, int64_t mint,
                                         int64_t maxt, const StepGrid& grid, QueryBudget& budget,
                                         Matrix& out) const {
  return for_each_series(matchers, mint, maxt,
                         [&](tsdb::SeriesId id, std::string name, const Labels& base) {
                           return select_stored_series(store_, id, std::move(name), base, matchers,
                                                       mint, maxt, true, budget, out, &grid);
                         });
}

Status TelemetrySource::select_runs(const std::vector<LabelMatcher>& matchers, int64_t mint,
                                    int64_t maxt, int64_t width, bool exact_sum,
                                    QueryBudget& budget, std::vector<RunSeries>& out) const {
  return for_each_series(
      matchers, mint, maxt, [&](tsdb::SeriesId id, std::string name, const Labels& base) -> Status {
        Labels ls = series_labels(std::move(name), base);
        if (!matches_all(matchers, ls)) return Status::Ok();
        RunSeries s{std::move(ls), {}};
        s.from_rollups = read_runs(store_, id, mint, maxt, width, exact_sum, s.runs, &s.exact_sums);
        if (s.runs.empty()) return Status::Ok();
        if (auto st = budget.take_series(); !st.ok()) return st;
        if (auto st = budget.take_points(s.runs.size()); !st.ok()) return st;
        out.push_back(std::move(s));
        return Status::Ok();
      });
}

Status TelemetrySource::for_each_series(const std::vector<LabelMatcher>& matchers, int64_t mint,
                                        int64_t maxt, const EachSeries& each) const {
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
      if (auto st = each(id, std::move(name), base); !st.ok()) return st;
    }
  }
  return Status::Ok();
}

}  // namespace fp::promql
