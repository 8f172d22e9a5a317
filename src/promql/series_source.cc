#include "promql/series_source.h"

namespace fp::promql {

Status QueryBudget::take_series(size_t n) {
  series_ += n;
  if (series_ > limits_.max_series)
    return {StatusCode::kTooLarge, "query selects more than " + std::to_string(limits_.max_series) +
                                       " series (limit promql-max-series); narrow the selector"};
  return Status::Ok();
}

Status QueryBudget::take_points(size_t n) {
  points_ += n;
  if (points_ > limits_.max_points)
    return {StatusCode::kTooLarge,
            "query reads or evaluates more than " + std::to_string(limits_.max_points) +
                " points (limit promql-max-points); narrow the selector or the time range, or "
                "widen the step"};
  return Status::Ok();
}

Status CombinedSource::select(const std::vector<LabelMatcher>& matchers, int64_t mint, int64_t maxt,
                              bool with_points, QueryBudget& budget, Matrix& out) const {
  for (const SeriesSource* p : parts_)
    if (auto s = p->select(matchers, mint, maxt, with_points, budget, out); !s.ok()) return s;
  return Status::Ok();
}

Status CombinedSource::select_for_steps(const std::vector<LabelMatcher>& matchers, int64_t mint,
                                        int64_t maxt, const StepGrid& grid, QueryBudget& budget,
                                        Matrix& out) const {
  for (const SeriesSource* p : parts_)
    if (auto s = p->select_for_steps(matchers, mint, maxt, grid, budget, out); !s.ok()) return s;
  return Status::Ok();
}

Status SeriesSource::select_runs(const std::vector<LabelMatcher>& matchers, int64_t mint,
                                 int64_t maxt, int64_t width, bool exact_sum, QueryBudget& budget,
                                 std::vector<RunSeries>& out) const {
  (void)width;
  (void)exact_sum;
  Matrix m;
  if (auto s = select(matchers, mint, maxt, true, budget, m); !s.ok()) return s;
  for (auto& s : m) {
    RunSeries r{std::move(s.labels), {}};
    r.runs.reserve(s.points.size());
    for (const Point& p : s.points) r.runs.push_back({p.t, p.t, p.v, p.v, p.v, p.v, 1});
    out.push_back(std::move(r));
  }
  return Status::Ok();
}

Status CombinedSource::select_runs(const std::vector<LabelMatcher>& matchers, int64_t mint,
                                   int64_t maxt, int64_t width, bool exact_sum, QueryBudget& budget,
                                   std::vector<RunSeries>& out) const {
  for (const SeriesSource* p : parts_)
    if (auto s = p->select_runs(matchers, mint, maxt, width, exact_sum, budget, out); !s.ok())
      return s;
  return Status::Ok();
}

int64_t window_rollup_width(int64_t first_end, int64_t step, int64_t range_ms) {
  for (const int64_t w : {int64_t{3'600'000}, int64_t{60'000}})
    if (step >= 0 && step % w == 0 && first_end % w == 0 && range_ms > 0 && range_ms % w == 0)
      return w;
  return 0;
}

bool matches_all(const std::vector<LabelMatcher>& matchers, const Labels& ls) {
  for (const auto& m : matchers)
    if (!m.matches(label_value(ls, m.name))) return false;
  return true;
}

}  // namespace fp::promql
