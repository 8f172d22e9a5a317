#pragma once
// The PromQL evaluator: evaluates a parsed expression over a SeriesSource with Prometheus
// 2.42's semantics — 5-minute lookback (inclusive at both ends, as 2.x), step alignment at
// start + k*step, offsets, closed [t-range, t] windows, extrapolated rate/increase/delta,
// vector matching, NaN/±Inf arithmetic. It evaluates node by node over all steps at once,
// as Prometheus's engine does, so intermediate results are matrices over the steps.
//
// Thread-safe: no shared state; each call evaluates one query.

#include <cstdint>
#include <string>

#include "promql/ast.h"
#include "promql/series_source.h"
#include "util/result.h"

namespace fp::promql {

struct EngineOptions {
  int64_t lookback_ms = 5 * 60'000;
  QueryLimits limits;
};

// A query's answer. kVector: one point per series (at the query time); kMatrix: series of
// points; kScalar / kString: `scalar` or `str` at time `t`.
struct QueryValue {
  ValueType type = ValueType::kVector;
  Matrix series;
  int64_t t = 0;
  double scalar = 0;
  std::string str;
  size_t rollup_series = 0;  // series whose range-function windows were read from rollups
};

// Evaluates at instant `t` (ms). Errors: kUnprocessable (execution errors, as Prometheus
// names them), kTooLarge (a limit).
Result<QueryValue> evaluate_instant(const Expr& e, const SeriesSource& src, int64_t t,
                                    const EngineOptions& opt);
// Evaluates at start, start+step, ... <= end; the result is a matrix (scalars as one series
// without labels). `e` must be of scalar or vector type.
Result<QueryValue> evaluate_range(const Expr& e, const SeriesSource& src, int64_t start,
                                  int64_t end, int64_t step, const EngineOptions& opt);

}  // namespace fp::promql
