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
            "query reads more than " + std::to_string(limits_.max_points) +
                " points (limit promql-max-points); narrow the selector or the time range"};
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

bool matches_all(const std::vector<LabelMatcher>& matchers, const Labels& ls) {
  for (const auto& m : matchers)
    if (!m.matches(label_value(ls, m.name))) return false;
  return true;
}

}  // namespace fp::promql
