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

// Per-query limits: series selected and raw points read. Exceeding one ends the query with
// kTooLarge naming the limit; nothing is read beyond it.
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
};

// Several sources as one (series from each, in order). Does not own them.
class CombinedSource : public SeriesSource {
 public:
  explicit CombinedSource(std::vector<const SeriesSource*> parts) : parts_(std::move(parts)) {}
  Status select(const std::vector<LabelMatcher>& matchers, int64_t mint, int64_t maxt,
                bool with_points, QueryBudget& budget, Matrix& out) const override;
  Status select_for_steps(const std::vector<LabelMatcher>& matchers, int64_t mint, int64_t maxt,
                          const StepGrid& grid, QueryBudget& budget, Matrix& out) const override;

 private:
  std::vector<const SeriesSource*> parts_;
};

// True when `ls` satisfies every matcher (a missing label is the empty value).
bool matches_all(const std::vector<LabelMatcher>& matchers, const Labels& ls);

}  // namespace fp::promql
