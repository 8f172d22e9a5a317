// Fuzzes the PromQL parser and, for what parses, the evaluator: any bytes give an expression
// or a parse error (kMalformed, or kUnprocessable naming an unsupported construct), never a
// crash; an expression evaluates over a small in-memory source to a value or an error, and a
// range answer written with its step grid (matrix_answer) is byte for byte the one without.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "promql/api_json.h"
#include "promql/engine.h"
#include "promql/matrix_answer.h"
#include "promql/parser.h"

namespace {

class MemorySource : public fp::promql::SeriesSource {
 public:
  MemorySource() {
    for (int d = 0; d < 3; ++d)
      for (const char* metric : {"a", "b_total"}) {
        fp::promql::Series s{{{"__name__", metric},
                              {"device_id", "dev-" + std::to_string(d)},
                              {"type", d % 2 ? "x" : "y"}},
                             {}};
        for (int i = 0; i < 40; ++i)
          s.points.push_back({i * 15'000 + d * 1000, static_cast<double>((i * 7 + d) % 11)});
        series_.push_back(std::move(s));
      }
  }
  fp::Status select(const std::vector<fp::promql::LabelMatcher>& matchers, int64_t mint,
                    int64_t maxt, bool with_points, fp::promql::QueryBudget& budget,
                    fp::promql::Matrix& out) const override {
    for (const auto& s : series_) {
      if (!fp::promql::matches_all(matchers, s.labels)) continue;
      fp::promql::Series r{s.labels, {}};
      if (with_points)
        for (const auto& p : s.points)
          if (p.t >= mint && p.t <= maxt) r.points.push_back(p);
      if (auto st = budget.take_series(); !st.ok()) return st;
      if (auto st = budget.take_points(r.points.size()); !st.ok()) return st;
      out.push_back(std::move(r));
    }
    return fp::Status::Ok();
  }

 private:
  fp::promql::Matrix series_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto e = fp::promql::parse_expression(text);
  if (!e.ok()) {
    const auto c = e.status().code();
    if ((c != fp::StatusCode::kMalformed && c != fp::StatusCode::kUnprocessable) ||
        e.status().message().empty())
      std::abort();
    return 0;
  }
  static const MemorySource source;
  fp::promql::EngineOptions opt;
  opt.limits.max_points = 100'000;
  auto r = fp::promql::evaluate_instant(**e, source, 300'000, opt);
  if (!r.ok() && r.status().message().empty()) std::abort();
  if ((*e)->type() == fp::promql::ValueType::kScalar ||
      (*e)->type() == fp::promql::ValueType::kVector) {
    auto rr = fp::promql::evaluate_range(**e, source, 0, 600'000, 60'000, opt);
    if (!rr.ok() && rr.status().message().empty()) std::abort();
    // The answer written with the step grid (timestamps from its table) is the one without.
    if (rr.ok() && rr->type == fp::promql::ValueType::kMatrix) {
      std::string pieces;
      fp::promql::write_matrix_answer(rr->series, {}, fp::promql::AnswerSteps{0, 60'000, 11},
                                      [&pieces](std::string_view p) { pieces.append(p); });
      if (pieces != fp::promql::query_result_json(*rr)) std::abort();
    }
  }
  return 0;
}
