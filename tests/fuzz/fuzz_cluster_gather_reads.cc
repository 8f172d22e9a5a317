// Fuzzes the decoders of the gathered streamed reads and exact PromQL aggregations
// (src/cluster/gather_promql.h, gather_metrics.h): the input is split at the first 0xff byte
// into a PromQL query (a client's text: the outer aggregation and its argument's source text
// are cut out of it) and an owner's answer (JSON for the aggregation, the text exposition for
// /metrics). Any bytes give an answer, never a crash; an extracted argument parses as PromQL,
// and an aggregated answer built from a valid one is valid JSON. The raw-series gather
// (gather_promql_raw.h): the query's recorded selections parse back as selectors, and the
// answer is replayed to the engine (a fixed query's selection too) without a crash.
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cluster/gather_metrics.h"
#include "cluster/gather_promql.h"
#include "cluster/gather_promql_raw.h"
#include "promql/parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const size_t cut = bytes.find('\xff');
  const std::string query(bytes.substr(0, cut));
  const std::string body(cut == std::string_view::npos ? "" : bytes.substr(cut + 1));
  using fp::cluster::OuterAggregation;
  if (auto agg = fp::cluster::GatheredAggregationOf(query)) {
    if (!fp::promql::parse_expression(agg->inner).ok()) std::abort();
  }
  for (fp::promql::AggOp op :
       {fp::promql::AggOp::kAvg, fp::promql::AggOp::kTopk, fp::promql::AggOp::kQuantile}) {
    OuterAggregation agg;
    agg.op = op;
    agg.param = 2;
    agg.grouping = {"device_id"};
    agg.without = op == fp::promql::AggOp::kAvg;
    const std::string out = fp::cluster::ApplyAggregation(agg, body);
    simdjson::dom::parser in_parser, out_parser;
    if (in_parser.parse(body).error() == simdjson::SUCCESS &&
        out_parser.parse(out).error() != simdjson::SUCCESS)
      std::abort();
  }
  (void)fp::cluster::PlanOf(query);
  for (const std::string& q : {query, std::string("avg(x) / 2")}) {
    auto raw = fp::cluster::ParseRawQuery({{"query", q}, {"time", "1000"}}, false, 0);
    if (!raw) continue;
    fp::cluster::ReplaySource src;
    std::vector<std::string> warnings;
    for (const fp::cluster::SelectCall& c : fp::cluster::RecordSelects(*raw, {})) {
      if (!fp::promql::parse_expression(c.selector).ok()) std::abort();
      (void)fp::cluster::SelectTarget(c);
      (void)src.Add(c, body, {0, 1}, 4, warnings);
    }
    (void)fp::cluster::Evaluate(*raw, src, {}, warnings, {2});
  }
  fp::cluster::GatherRequest req;
  req.kind = fp::cluster::GatherKind::kMetrics;
  fp::cluster::OwnerAnswer a{"n1", {0}, true, 200, "text/plain", body};
  fp::cluster::OwnerAnswer b{"n2", {1}, false, 0, "", ""};
  (void)fp::cluster::MergeMetrics(req, {a, b});
  (void)fp::cluster::WithNodeLabel(body, "n1");
  return 0;
}
