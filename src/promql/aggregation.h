#pragma once
// One step of an aggregation (sum, avg, min, max, count, group, stddev, stdvar, topk,
// bottomk, quantile) over the samples of one group, exactly as Prometheus 2.42's
// evaluator.aggregation() folds them (incremental mean, NaN rules, topk's heap).

#include <cstdint>
#include <vector>

#include "promql/ast.h"

namespace fp::promql {

struct AggSample {
  uint32_t series;  // index of the input series
  double v;
};

// Folds one group's samples in input order. For topk/bottomk fills `selected` with the kept
// samples (any order) and returns 0; otherwise returns the group's value.
double aggregate_group(AggOp op, double param, const std::vector<AggSample>& samples,
                       std::vector<AggSample>& selected);

}  // namespace fp::promql
