#pragma once
// Raw-series gather for PromQL in cluster mode (docs/cluster.md "Export, live stream, /metrics
// and exact PromQL aggregations, gathered"). When a query is not provably exact as a merge of the
// owners' own answers (gather_promql.h PlanOf), the gathering node evaluates the whole expression
// once over every owner's raw series:
//   1. RecordSelects() runs the engine over a source that answers nothing and records each
//      selection the engine makes (matchers, [mint, maxt]); the engine's selections depend on
//      the expression and the times only, never on the data.
//   2. Each selection is asked of every owner as the instant query `{matchers}[<maxt-mint>ms]`
//      at `maxt` with fp_local=1 (SelectTarget): the owner answers the raw points of its
//      series in [mint, maxt], bounded by its own series/points limits.
//   3. ReplaySource answers the engine's selections with the union of the owners' series
//      (each kept only from the owner asked for its device's partition) and charges the
//      query's budget as the single node's source does; Evaluate() evaluates once.
// Values travel as the Prometheus API writes them (shortest round-trip text), so the engine
// sees the single node's numbers bit for bit.
//
// Pure functions and one source class, no I/O. Thread safety: a ReplaySource is filled from
// one thread, then read by one evaluation.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "promql/ast.h"
#include "promql/engine.h"
#include "promql/series_source.h"

namespace fp::cluster {

// A query's parameters, validated as the Prometheus handler validates them.
struct RawQuery {
  promql::ExprPtr expr;
  bool range = false;
  int64_t start = 0;  // ms; the instant of an instant query
  int64_t end = 0;
  int64_t step = 0;
};

// The query of `params` (query, time | start, end, step); nullopt when any parameter is not
// valid (then the owners' own answer says why). `now_ms` is an instant query's default time.
std::optional<RawQuery> ParseRawQuery(const std::map<std::string, std::string, std::less<>>& params,
                                      bool range, int64_t now_ms);

// One selection of the engine: the series matching `matchers` with their points in
// [mint, maxt]. `key` identifies it (the selector's text and the window).
struct SelectCall {
  std::string selector;  // {name op "value", ...}: PromQL text the owners parse back
  int64_t mint = 0;
  int64_t maxt = 0;
  std::string key;
};

// The distinct selections the engine makes to evaluate `q`, in order.
std::vector<SelectCall> RecordSelects(const RawQuery& q, const promql::EngineOptions& opt);

// The owner request target for `call` (GET, with fp_local=1).
std::string SelectTarget(const SelectCall& call);

// The engine's source on the gathering node: the owners' answers to the recorded selections.
class ReplaySource : public promql::SeriesSource {
 public:
  // Adds an owner's answer (a Prometheus matrix result) to `call`: the series of devices in
  // `partitions` (of `total`); series without a device_id once (the first owner's). Its
  // `warnings` are appended to `warnings`. False when the body is not such an answer.
  bool Add(const SelectCall& call, std::string_view body, const std::set<uint32_t>& partitions,
           uint32_t total, std::vector<std::string>& warnings);

  Status select(const std::vector<promql::LabelMatcher>& matchers, int64_t mint, int64_t maxt,
                bool with_points, promql::QueryBudget& budget, promql::Matrix& out) const override;

 private:
  struct Answer {
    promql::Matrix series;
    std::set<promql::Labels> seen;
  };
  std::map<std::string, Answer> answers_;  // by SelectCall::key
};

struct EvaluatedAnswer {
  int status = 200;
  std::string body;  // Prometheus's JSON (answer or error), with "partial" and its partitions
};

// Evaluates `q` over `src` and writes the answer with `warnings` and the `missing` partitions
// ("partial", "missing_partitions", a warning naming them), as the merged answers do.
EvaluatedAnswer Evaluate(const RawQuery& q, const ReplaySource& src,
                         const promql::EngineOptions& opt, std::vector<std::string> warnings,
                         const std::vector<uint32_t>& missing);

}  // namespace fp::cluster
