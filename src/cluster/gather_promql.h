#pragma once
// Exact PromQL across partition owners (docs/cluster.md "Export, live stream, /metrics and
// exact PromQL aggregations, gathered"): PlanOf() picks the way; queries that are neither of
// the two below are evaluated over raw series (gather_promql_raw.h).
// An outer sum/count/min/max combines exactly from the owners' own
// aggregates (gather_merge.h); avg, stddev, stdvar, topk, bottomk, quantile and group do not
// (an average of averages is wrong). For those the gathering node asks every owner for the
// aggregation's argument (its series; each series lives on one owner), merges them, and
// evaluates the aggregation once over all of them with the engine's own fold
// (promql/aggregation.h), per step for query_range.
//
// Pure functions, no I/O.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "promql/ast.h"

namespace fp::cluster {

// How a PromQL query is answered in cluster mode.
enum class PromPlan {
  // Merged from the owners' own answers (gather_merge.h): an expression whose every series
  // depends on one device's series only (selectors of per-device metrics, per-series
  // functions with constant parameters, vector matching that keeps device_id, aggregations
  // by device_id), concatenated; or an outer sum/count/min/max over one, combined.
  kMerge,
  // avg/stddev/stdvar/group/topk/bottomk/quantile (number parameter) over such an
  // expression: its series gathered, aggregated once here (GatheredAggregationOf).
  kAggregateOnce,
  // Anything else: the selectors' raw series gathered, the whole expression evaluated once
  // here (gather_promql_raw.h).
  kRawSeries,
};

// The plan for `query`; kMerge for a query that does not parse (every owner answers the error).
PromPlan PlanOf(std::string_view query);

struct OuterAggregation {
  promql::AggOp op = promql::AggOp::kAvg;
  double param = 0;  // k of topk/bottomk, φ of quantile
  std::vector<std::string> grouping;
  bool without = false;
  std::string inner;  // the argument's source text, asked of every owner
};

// The outer aggregation of `query` when it must be evaluated once over every owner's series:
// avg, stddev, stdvar, topk, bottomk, quantile, group with a number literal parameter. nullopt
// for anything else (served by gather_merge.h as before).
std::optional<OuterAggregation> GatheredAggregationOf(std::string_view query);

// Evaluates `agg` over the merged Prometheus answer (vector or matrix) of its argument and
// returns the answer of the whole query; the other top-level fields (warnings, partial,
// missing_partitions) are kept. An answer that is not a vector or matrix is returned as is.
std::string ApplyAggregation(const OuterAggregation& agg, std::string_view merged_body);

}  // namespace fp::cluster
