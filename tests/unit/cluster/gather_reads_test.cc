// The pure parts of the gathered streamed reads: /metrics merged with a node label
// (cluster/gather_metrics.h) and PromQL aggregations evaluated once over every owner's series
// (cluster/gather_promql.h).

#include <gtest/gtest.h>

#include "cluster/gather_metrics.h"
#include "cluster/gather_promql.h"

namespace fp::cluster {
namespace {

OwnerAnswer Metrics(std::string node, std::vector<uint32_t> parts, std::string body) {
  OwnerAnswer a;
  a.node = std::move(node);
  a.partitions = std::move(parts);
  a.answered = true;
  a.status = 200;
  a.body = std::move(body);
  return a;
}

TEST(GatherMetrics, NodeLabelAddedOnceAndKeptWhenPresent) {
  EXPECT_EQ(WithNodeLabel("up 1", "a"), "up{node=\"a\"} 1");
  EXPECT_EQ(WithNodeLabel("x{k=\"v\"} 2", "a"), "x{node=\"a\",k=\"v\"} 2");
  EXPECT_EQ(WithNodeLabel("x{} 2", "a"), "x{node=\"a\"} 2");
  EXPECT_EQ(WithNodeLabel("x{node=\"b\",k=\"v\"} 2", "a"), "x{node=\"b\",k=\"v\"} 2");
  EXPECT_EQ(WithNodeLabel("x{k=\"v\",node=\"b\"} 2", "a"), "x{k=\"v\",node=\"b\"} 2");
}

TEST(GatherMetrics, FamiliesOnceWithEveryNodesSamplesAndMissingNodesSaid) {
  GatherRequest req;
  req.kind = GatherKind::kMetrics;
  const std::string body_a =
      "# HELP h Requests.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 2\nh_count 1\n"
      "# HELP up Up.\n# TYPE up gauge\nup 1\n";
  const std::string body_b = "# HELP up Up.\n# TYPE up gauge\nup 1\n";
  OwnerAnswer c;
  c.node = "c";
  c.partitions = {4, 5};
  GatherResponse r =
      MergeMetrics(req, {Metrics("a", {0, 1}, body_a), Metrics("b", {2, 3}, body_b), c});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            "# HELP h Requests.\n# TYPE h histogram\nh_bucket{node=\"a\",le=\"1\"} 1\n"
            "h_sum{node=\"a\"} 2\nh_count{node=\"a\"} 1\n"
            "# HELP up Up.\n# TYPE up gauge\nup{node=\"a\"} 1\nup{node=\"b\"} 1\n"
            "# HELP fleetpulse_cluster_gather_partial 1 when a node did not answer this gathered "
            "/metrics (its samples are missing).\n# TYPE fleetpulse_cluster_gather_partial gauge\n"
            "fleetpulse_cluster_gather_partial 1\n"
            "# HELP fleetpulse_cluster_gather_missing_node A node that did not answer this "
            "gathered /metrics.\n# TYPE fleetpulse_cluster_gather_missing_node gauge\n"
            "fleetpulse_cluster_gather_missing_node{node=\"c\"} 1\n");
  EXPECT_EQ(r.missing, (std::vector<uint32_t>{4, 5}));
  EXPECT_EQ(MergeMetrics(req, {c}).status, 503);
}

TEST(GatherPromql, OnlyAggregationsThatDoNotCombineAreGathered) {
  EXPECT_FALSE(GatheredAggregationOf("sum(temp)"));
  EXPECT_FALSE(GatheredAggregationOf("max by (x) (temp)"));
  EXPECT_FALSE(GatheredAggregationOf("temp"));
  EXPECT_FALSE(GatheredAggregationOf("avg(temp) / 2"));
  EXPECT_FALSE(GatheredAggregationOf("topk(scalar(x), temp)"));  // not a literal k
  EXPECT_FALSE(GatheredAggregationOf("avg(("));
  auto a = GatheredAggregationOf("avg(temp)");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->op, promql::AggOp::kAvg);
  EXPECT_EQ(a->inner, "temp");
  auto t = GatheredAggregationOf(R"(topk by (site) (3, rate(temp{d="a,(b"}[5m])))");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->op, promql::AggOp::kTopk);
  EXPECT_EQ(t->param, 3);
  EXPECT_EQ(t->grouping, std::vector<std::string>{"site"});
  EXPECT_EQ(t->inner, R"( rate(temp{d="a,(b"}[5m]))");
  auto q = GatheredAggregationOf("quantile(0.9, max_over_time(temp[10m])) without (device_id)");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->param, 0.9);
  EXPECT_TRUE(q->without);
  EXPECT_EQ(q->inner, " max_over_time(temp[10m])");
}

TEST(GatherPromql, AvgIsOverEverySeriesNotAnAverageOfAverages) {
  // Owner 1 had 3 series, owner 2 one: the mean of the four is 2.5, not mean(2, 4) = 3.
  const std::string merged =
      R"({"status":"success","data":{"resultType":"vector","result":[)"
      R"({"metric":{"__name__":"t","device_id":"a","site":"x"},"value":[100,"1"]},)"
      R"({"metric":{"__name__":"t","device_id":"b","site":"x"},"value":[100,"2"]},)"
      R"({"metric":{"__name__":"t","device_id":"c","site":"y"},"value":[100,"3"]},)"
      R"({"metric":{"__name__":"t","device_id":"d","site":"y"},"value":[100,"4"]}]},)"
      R"("partial":false,"missing_partitions":[]})";
  OuterAggregation avg;
  avg.op = promql::AggOp::kAvg;
  EXPECT_EQ(ApplyAggregation(avg, merged),
            R"({"status":"success","data":{"resultType":"vector","result":[)"
            R"({"metric":{},"value":[100,"2.5"]}]},"partial":false,"missing_partitions":[]})");
  avg.grouping = {"site"};
  EXPECT_EQ(ApplyAggregation(avg, merged),
            R"({"status":"success","data":{"resultType":"vector","result":[)"
            R"({"metric":{"site":"x"},"value":[100,"1.5"]},)"
            R"({"metric":{"site":"y"},"value":[100,"3.5"]}]},)"
            R"("partial":false,"missing_partitions":[]})");
  OuterAggregation top;
  top.op = promql::AggOp::kTopk;
  top.param = 1;
  top.grouping = {"site"};
  EXPECT_EQ(ApplyAggregation(top, merged),
            R"({"status":"success","data":{"resultType":"vector","result":[)"
            R"({"metric":{"__name__":"t","device_id":"b","site":"x"},"value":[100,"2"]},)"
            R"({"metric":{"__name__":"t","device_id":"d","site":"y"},"value":[100,"4"]}]},)"
            R"("partial":false,"missing_partitions":[]})");
}

TEST(GatherPromql, RangeAnswersAreAggregatedPerStep) {
  const std::string merged = R"({"status":"success","data":{"resultType":"matrix","result":[)"
                             R"({"metric":{"device_id":"a"},"values":[[60,"1"],[120,"5"]]},)"
                             R"({"metric":{"device_id":"b"},"values":[[60,"3"]]},)"
                             R"({"metric":{"device_id":"c"},"values":[[60,"8"],[120,"7"]]}]}})";
  OuterAggregation q;
  q.op = promql::AggOp::kQuantile;
  q.param = 0.5;
  EXPECT_EQ(ApplyAggregation(q, merged),
            R"({"status":"success","data":{"resultType":"matrix","result":[)"
            R"({"metric":{},"values":[[60,"3"],[120,"6"]]}]}})");
  // Not a vector or matrix: returned as is.
  EXPECT_EQ(ApplyAggregation(q, R"({"status":"error"})"), R"({"status":"error"})");
}

}  // namespace
}  // namespace fp::cluster
