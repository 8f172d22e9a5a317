#pragma once
// Where the engine's series come from. A SeriesSource answers a selector's matchers with the
// matching series and their raw points; fleetpulse plugs in one source per kind of data
// (stored telemetry, device status history, later KPI history), all behind this interface.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "promql/ast.h"
#include "promql/labels.h"
#include "util/result.h"

namespace fp::promql {

struct Point {
  int64_t t;  // milliseconds since the epoch
  double v;
};

struct Series {
  Labels labels;
  std::vector<Point> points;  // ascending by t, one per timestamp
};
using Matrix = std::vector<Series>;

// Consecutive samples of one series in [first_t, last_t], summarised: a single raw sample
// (count 1) or a rollup bucket's samples. `first` is the value at first_t; min, max and sum
// are over the run's samples, min and max never NaN when count > 1 (a bucket holding NaN is
// read raw).
struct SampleRun {
  int64_t first_t;
  int64_t last_t;
  double first;
  double min;
  double max;
  double sum;
  uint64_t count;
};

// A series as runs, ascending by first_t, not overlapping. `from_rollups`: some run is a
// rollup bucket. `exact_sums`: every sample behind the runs is an integer and their
// magnitudes add up to at most 2^53, so every partial sum of them, in any order and grouping,
// is exact (set only when select_runs was asked for exact_sum).
struct RunSeries {
  Labels labels;
  std::vector<SampleRun> runs;
  bool from_rollups = false;
  bool exact_sums = false;
};

// Per-query limits: series selected, and points — raw points read plus the points of the
// series selectors and range functions evaluate (what a query holds in memory). Exceeding one ends
// the query with kTooLarge naming the limit; nothing is read beyond it.
struct QueryLimits {
  size_t max_series = 100'000;
  size_t max_points = 20'000'000;
};

// What one query may still read. Not thread-safe: one per query.
class QueryBudget {
 public:
  explicit QueryBudget(const QueryLimits& l) : limits_(l) {}
  Status take_series(size_t n = 1);
  Status take_points(size_t n);

 private:
  QueryLimits limits_;
  size_t series_ = 0;
  size_t points_ = 0;
};

// Why readings one query selected may be missing (storage damage not yet acknowledged, see
// TimeSeriesStore::missing_data): the distinct reasons, in the order found. The sources that
// read stored points add to it; the HTTP API answers them as Prometheus "warnings".
class MissingData {
 public:
  void add(const std::string& reason) {
    if (reason.empty()) return;
    std::lock_guard lock(mu_);
    if (std::find(reasons_.begin(), reasons_.end(), reason) == reasons_.end())
      reasons_.push_back(reason);
  }
  std::vector<std::string> reasons() const {
    std::lock_guard lock(mu_);
    return reasons_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> reasons_;
};

// The instants an instant-vector selector is read at: first, first + step, ... (ms; step 0:
// the single instant `first`). At each, the selector takes the last point at or before it.
struct StepGrid {
  int64_t first = 0;
  int64_t step = 0;
};

class SeriesSource {
 public:
  virtual ~SeriesSource() = default;
  // Appends to `out` every series whose labels satisfy all `matchers` and that has points in
  // [mint, maxt], with those points (with_points false: labels only, points left empty).
  // Charges `budget`; stops with its error when a limit is reached. Any thread.
  virtual Status select(const std::vector<LabelMatcher>& matchers, int64_t mint, int64_t maxt,
                        bool with_points, QueryBudget& budget, Matrix& out) const = 0;
  // As select(with_points) for an instant selector read at the instants of `grid` (all in
  // [mint, maxt]): each series may carry any subset of its points in [mint, maxt] that keeps,
  // for every instant, the last point at or before it — so the answer is the same as from all
  // points (a source may read rollups for it). By default, all points.
  virtual Status select_for_steps(const std::vector<LabelMatcher>& matchers, int64_t mint,
                                  int64_t maxt, const StepGrid& grid, QueryBudget& budget,
                                  Matrix& out) const {
    (void)grid;
    return select(matchers, mint, maxt, true, budget, out);
  }
  // As select(with_points) for the windows of window_rollup_width `width` (> 0): each
  // series' samples in [mint, maxt] as runs, where a run is a whole rollup bucket of `width`
  // where one covers it (then the window functions min/max/count/sum_over_time read one run
  // per bucket instead of its samples) and a single raw sample elsewhere. `exact_sum`: a
  // series has bucket runs only if adding its samples is exact in any order (all integers,
  // magnitudes summing to at most 2^53), else it is all raw samples. By default, every raw
  // sample a run of its own. Charges `budget` a point per run.
  virtual Status select_runs(const std::vector<LabelMatcher>& matchers, int64_t mint, int64_t maxt,
                             int64_t width, bool exact_sum, QueryBudget& budget,
                             std::vector<RunSeries>& out) const;
};

// The rollup width (1 h or 1 min, in ms) for the windows [end - range_ms, end] at ends
// first_end, first_end + step, ... (step 0: the single end first_end): the widest of which
// every window end and range_ms are multiples, so every bucket lies wholly inside a window or
// outside it except for one sample on its end. 0 when there is none.
int64_t window_rollup_width(int64_t first_end, int64_t step, int64_t range_ms);

// Several sources as one (series from each, in order). Does not own them.
class CombinedSource : public SeriesSource {
 public:
  explicit CombinedSource(std::vector<const SeriesSource*> parts) : parts_(std::move(parts)) {}
  Status select(const std::vector<LabelMatcher>& matchers, int64_t mint, int64_t maxt,
                bool with_points, QueryBudget& budget, Matrix& out) const override;
  Status select_for_steps(const std::vector<LabelMatcher>& matchers, int64_t mint, int64_t maxt,
                          const StepGrid& grid, QueryBudget& budget, Matrix& out) const override;
  Status select_runs(const std::vector<LabelMatcher>& matchers, int64_t mint, int64_t maxt,
                     int64_t width, bool exact_sum, QueryBudget& budget,
                     std::vector<RunSeries>& out) const override;

 private:
  std::vector<const SeriesSource*> parts_;
};

// True when `ls` satisfies every matcher (a missing label is the empty value).
bool matches_all(const std::vector<LabelMatcher>& matchers, const Labels& ls);

}  // namespace fp::promql
