// Which PromQL queries are merged and which are evaluated once over every owner's raw series
// (cluster/gather_promql.h PlanOf), and the raw-series gather itself
// (cluster/gather_promql_raw.h): the selections recorded, the owner requests, the owners'
// answers replayed to the engine.

#include "cluster/gather_promql_raw.h"

#include <gtest/gtest.h>

#include "cluster/gather_promql.h"
#include "cluster/partition.h"
#include "promql/parser.h"

namespace fp::cluster {
namespace {

TEST(PromPlan, PerDeviceMergedOuterCombinableMergedTheRestRaw) {
  for (const char* q : {"temp", "rate(temp[5m]) * 2", "temp / on(device_id) group_left hum",
                        "temp / hum", "sum(temp)", "(count(temp > 3))", "max by (type) (temp)",
                        "sum by (device_id) (temp) / 2", "abs(temp)", "temp[5m]", "unparsable(("})
    EXPECT_EQ(PlanOf(q), PromPlan::kMerge) << q;
  for (const char* q : {"avg(temp)", "topk(3, rate(temp[5m]))", "quantile(0.9, temp)"})
    EXPECT_EQ(PlanOf(q), PromPlan::kAggregateOnce) << q;
  for (const char* q :
       {"avg(temp) / 2", "abs(avg(temp))", "sum(rate(x[5m])) / count(x)",
        "topk(3, avg by (type) (temp))", "temp / on(type) group_left avg by (type) (temp)",
        "temp / ignoring(device_id) hum", "sum(temp) - 1", "scalar(sum(temp))", "time()",
        "{__name__=~\"temp|hum\"}", "fleetpulse_type_availability", "vector(1)",
        "topk(scalar(count(temp)), temp)", "temp * scalar(avg(temp))", "avg(avg(temp))"})
    EXPECT_EQ(PlanOf(q), PromPlan::kRawSeries) << q;
}

RawQuery Instant(const std::string& q, int64_t t) {
  auto r = ParseRawQuery({{"query", q}, {"time", std::to_string(t / 1000)}}, false, 0);
  EXPECT_TRUE(r.has_value()) << q;
  return std::move(*r);
}

TEST(PromRaw, ParametersValidatedAsTheHandlerDoes) {
  EXPECT_FALSE(ParseRawQuery({{"query", "avg(x) / 2"}, {"time", "yesterday"}}, false, 0));
  EXPECT_FALSE(ParseRawQuery({{"query", "avg(x) /"}}, false, 0));
  EXPECT_FALSE(
      ParseRawQuery({{"query", "x"}, {"start", "1"}, {"end", "0"}, {"step", "1"}}, true, 0));
  EXPECT_FALSE(
      ParseRawQuery({{"query", "x"}, {"start", "0"}, {"end", "9"}, {"step", "0"}}, true, 0));
  EXPECT_FALSE(
      ParseRawQuery({{"query", "x[5m]"}, {"start", "0"}, {"end", "9"}, {"step", "1"}}, true, 0));
  auto now = ParseRawQuery({{"query", "avg(x) / 2"}}, false, 1234);
  ASSERT_TRUE(now);
  EXPECT_EQ(now->start, 1234);
  auto r =
      ParseRawQuery({{"query", "x"}, {"start", "1.5"}, {"end", "61.5"}, {"step", "30s"}}, true, 0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->start, 1500);
  EXPECT_EQ(r->end, 61500);
  EXPECT_EQ(r->step, 30000);
}

TEST(PromRaw, SelectionsRecordedOnceWithTheEnginesWindows) {
  const int64_t t = 1'000'000'000;
  auto calls =
      RecordSelects(Instant("avg(temp) / 2 + sum(rate(msgs[2m] offset 1m)) - avg(temp)", t), {});
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].selector, "{__name__=\"temp\"}");
  EXPECT_EQ(calls[0].mint, t - 300'000);
  EXPECT_EQ(calls[0].maxt, t);
  EXPECT_EQ(calls[1].selector, "{__name__=\"msgs\"}");
  EXPECT_EQ(calls[1].mint, t - 60'000 - 120'000);
  EXPECT_EQ(calls[1].maxt, t - 60'000);
  EXPECT_EQ(SelectTarget(calls[1]),
            "/prometheus/api/v1/query?query=%7B__name__%3D%22msgs%22%7D%5B120000ms%5D"
            "&time=999940&fp_local=1");
}

TEST(PromRaw, SelectorTextParsesBackToTheSameMatchers) {
  const std::string q = R"(avg({__name__="t", device_id="a\"b\\c\nd", k=~"x.*\\d", j!~"", )"
                        R"(m!="é\x01"}) / 2)";
  auto raw = Instant(q, 1'000'000);
  auto calls = RecordSelects(raw, {});
  ASSERT_EQ(calls.size(), 1u);
  auto back = promql::parse_expression(calls[0].selector);
  ASSERT_TRUE(back.ok()) << calls[0].selector;
  const auto& want = raw.expr->args[0]->args[0]->matchers;
  const auto& got = (*back)->matchers;
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].name, want[i].name);
    EXPECT_EQ(got[i].op, want[i].op);
    EXPECT_EQ(got[i].value, want[i].value);
  }
}

std::string Matrix(const std::string& series) {
  return R"({"status":"success","data":{"resultType":"matrix","result":[)" + series + "]}}";
}

TEST(PromRaw, OwnersSeriesReplayedExactlyOnlyFromTheirPartitionsThenEvaluatedOnce) {
  const uint32_t total = 8;
  std::string dev_a = "a", dev_b = "b";
  while (PartitionOf(dev_b, total) == PartitionOf(dev_a, total)) dev_b += "b";
  const uint32_t pa = PartitionOf(dev_a, total), pb = PartitionOf(dev_b, total);
  auto raw = Instant("avg(temp) / 2", 1'000'000);
  auto calls = RecordSelects(raw, {});
  ASSERT_EQ(calls.size(), 1u);
  auto series = [](const std::string& dev, const char* v) {
    return R"({"metric":{"__name__":"temp","device_id":")" + dev +
           R"("},"values":[[999.5,"7"],[999.999,")" + v + R"("]]})";
  };
  ReplaySource src;
  std::vector<std::string> warnings;
  // Owner 1 is asked for a's partition; its stale copy of b is not taken from it.
  ASSERT_TRUE(src.Add(calls[0], Matrix(series(dev_a, "0.1") + "," + series(dev_b, "100")), {pa},
                      total, warnings));
  ASSERT_TRUE(src.Add(calls[0],
                      R"({"status":"success","warnings":["w1"],"data":{"resultType":"matrix",)"
                      R"("result":[)" +
                          series(dev_b, "0.2") + "]}}",
                      {pb}, total, warnings));
  EXPECT_EQ(warnings, std::vector<std::string>{"w1"});
  EvaluatedAnswer a = Evaluate(raw, src, {}, warnings, {});
  EXPECT_EQ(a.status, 200);
  EXPECT_NE(a.body.find(R"("value":[1000,"0.07500000000000001"])"), std::string::npos) << a.body;
  EXPECT_NE(a.body.find(R"("partial":false)"), std::string::npos) << a.body;
  EvaluatedAnswer p = Evaluate(raw, src, {}, {}, {3, 5});
  EXPECT_NE(p.body.find(R"("partial":true,"missing_partitions":[3,5])"), std::string::npos);
  EXPECT_NE(p.body.find("partitions 3 5 did not answer"), std::string::npos);
}

TEST(PromRaw, LimitsChargedAndMalformedAnswersRefused) {
  auto raw = Instant("avg(temp) / 2", 1'000'000);
  auto calls = RecordSelects(raw, {});
  ReplaySource src;
  std::vector<std::string> w;
  const std::string two =
      Matrix(R"({"metric":{"__name__":"temp","device_id":"a"},"values":[[999,"1"]]},)"
             R"({"metric":{"__name__":"temp","device_id":"a"},"values":[[999,"1"]]},)"
             R"({"metric":{"__name__":"temp","k":"x"},"values":[[999,"NaN"],[1000,"+Inf"]]})");
  ASSERT_TRUE(src.Add(calls[0], two, {PartitionOf("a", 4)}, 4, w));
  promql::EngineOptions opt;
  opt.limits.max_series = 1;  // the same series twice is kept once: 2 series
  EvaluatedAnswer a = Evaluate(raw, src, opt, {}, {});
  EXPECT_EQ(a.status, 422) << a.body;
  EXPECT_NE(a.body.find("promql-max-series"), std::string::npos);
  for (const char* bad :
       {"", "{}", R"({"data":{"resultType":"vector","result":[]}})",
        R"({"data":{"resultType":"matrix","result":[{"metric":{"a":1},"values":[]}]}})",
        R"({"data":{"resultType":"matrix","result":[{"metric":{},"values":[[1.2345,"1"]]}]}})",
        R"({"data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"x"]]}]}})"}) {
    ReplaySource s;
    EXPECT_FALSE(s.Add(calls[0], bad, {0}, 4, w)) << bad;
  }
  // A selection no owner was asked for is an error, never an empty answer.
  ReplaySource empty;
  EXPECT_EQ(Evaluate(raw, empty, {}, {}, {}).status, 500);
}

}  // namespace
}  // namespace fp::cluster
