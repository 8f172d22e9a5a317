// The merge of fleet reads gathered from partition owners (cluster/gather_merge.h).
// Partitions of the ids used (N = 16, docs/cluster.md): a 12, foobar 8, sensor-001 9,
// sensor-002 0, truck-17 7.

#include "cluster/gather_merge.h"

#include <gtest/gtest.h>

namespace fp::cluster {
namespace {

OwnerAnswer Answer(std::string node, std::vector<uint32_t> parts, std::string body,
                   int status = 200) {
  OwnerAnswer a;
  a.node = std::move(node);
  a.partitions = std::move(parts);
  a.answered = true;
  a.status = status;
  a.body = std::move(body);
  return a;
}

GatherRequest Req(GatherKind kind, std::map<std::string, std::string, std::less<>> q = {}) {
  GatherRequest r;
  r.kind = kind;
  r.partitions_total = 16;
  r.query = std::move(q);
  return r;
}

TEST(GatherMerge, KindsOfPaths) {
  EXPECT_EQ(GatherKindOf("/api/v1/devices"), GatherKind::kDevices);
  EXPECT_EQ(GatherKindOf("/api/v1/devices/d1"), GatherKind::kNone);
  EXPECT_EQ(GatherKindOf("/api/v1/alerts/recent"), GatherKind::kAlerts);
  EXPECT_EQ(GatherKindOf("/prometheus/api/v1/label/device_id/values"), GatherKind::kPromList);
  EXPECT_EQ(GatherKindOf("/api/v1/rules"), GatherKind::kNone);
}

TEST(GatherMerge, DeviceListsMergeInIdOrderAndDropDevicesOfPartitionsNotAsked) {
  // n1 still has truck-17 (partition 7) from a partition it held before: not its answer now.
  auto a = Answer("n1", {12, 9},
                  R"({"devices":[{"device_id":"a"},{"device_id":"sensor-001"},)"
                  R"({"device_id":"truck-17"}],"next_cursor":null})");
  auto b = Answer("n2", {0, 7, 8},
                  R"({"devices":[{"device_id":"foobar"},{"device_id":"sensor-002"},)"
                  R"({"device_id":"truck-17"}],"next_cursor":null})");
  GatherResponse r = MergeGathered(Req(GatherKind::kDevices), {a, b});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            R"({"devices":[{"device_id":"a"},{"device_id":"foobar"},{"device_id":"sensor-001"},)"
            R"({"device_id":"sensor-002"},{"device_id":"truck-17"}],"next_cursor":null,)"
            R"("partial":false})");
}

TEST(GatherMerge, DeviceListCursorStopsWhereAnOwnerHasMore) {
  // limit 2: n1 returned [a, sensor-001] and has more; n2 returned [foobar] and is done.
  auto a = Answer("n1", {12, 9},
                  R"({"devices":[{"device_id":"a"},{"device_id":"sensor-001"}],)"
                  R"("next_cursor":"c1xx"})");
  auto b = Answer("n2", {8}, R"({"devices":[{"device_id":"foobar"}],"next_cursor":null})");
  GatherResponse r = MergeGathered(Req(GatherKind::kDevices, {{"limit", "2"}}), {a, b});
  // "c1" + hex("foobar")
  EXPECT_EQ(r.body, R"({"devices":[{"device_id":"a"},{"device_id":"foobar"}],)"
                    R"("next_cursor":"c1666f6f626172","partial":false})");
}

TEST(GatherMerge, AnOwnerThatDoesNotAnswerMakesItsPartitionsMissing) {
  auto a = Answer("n1", {12}, R"({"devices":[{"device_id":"a"}],"next_cursor":null})");
  OwnerAnswer b;
  b.node = "n2";
  b.partitions = {8, 0};
  GatherRequest req = Req(GatherKind::kDevices);
  req.unowned = {3};
  GatherResponse r = MergeGathered(req, {a, b});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.missing, (std::vector<uint32_t>{0, 3, 8}));
  EXPECT_NE(r.body.find(R"("partial":true,"missing_partitions":[0,3,8])"), std::string::npos)
      << r.body;
  // A 5xx counts as no answer too.
  auto c = Answer("n2", {8, 0}, R"({"error":{}})", 503);
  EXPECT_EQ(MergeGathered(Req(GatherKind::kDevices), {a, c}).missing,
            (std::vector<uint32_t>{0, 8}));
}

TEST(GatherMerge, NoAnswerAtAllIs503AndA4xxIsPassedBack) {
  OwnerAnswer none;
  none.partitions = {1};
  GatherResponse r = MergeGathered(Req(GatherKind::kStats), {none});
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("\"missing_partitions\":[1]"), std::string::npos);
  auto bad = Answer("n1", {1}, R"({"error":{"code":"invalid_parameter"}})", 400);
  EXPECT_EQ(MergeGathered(Req(GatherKind::kStats), {bad}).status, 400);
}

TEST(GatherMerge, StatsAreAdded) {
  auto a = Answer("n1", {1},
                  R"({"devices":{"online":2,"total":3},"series":5,"uptime_s":50,)"
                  R"("ingest_rate_per_s":1.5,"time":"t1"})");
  auto b = Answer("n2", {2},
                  R"({"devices":{"online":1,"total":1},"series":7,"uptime_s":20,)"
                  R"("ingest_rate_per_s":2.25,"time":"t2"})");
  EXPECT_EQ(MergeGathered(Req(GatherKind::kStats), {a, b}).body,
            R"({"devices":{"online":3,"total":4},"series":12,"uptime_s":20,)"
            R"("ingest_rate_per_s":3.75,"time":"t1","partial":false})");
}

TEST(GatherMerge, KpiSummaryIsWeightedByDevices) {
  auto a = Answer("n1", {1},
                  R"({"window":"24h","fleet":{"key":"all","devices":1,"availability_pct":100,)"
                  R"("messages":10,"rejected":0,"error_rate":0},"groups":[]})");
  auto b = Answer("n2", {2},
                  R"({"window":"24h","fleet":{"key":"all","devices":3,"availability_pct":60,)"
                  R"("messages":30,"rejected":4,"error_rate":0.1333},"groups":[]})");
  EXPECT_EQ(MergeGathered(Req(GatherKind::kKpiSummary), {a, b}).body,
            R"({"window":"24h","fleet":{"key":"all","devices":4,"availability_pct":70,)"
            R"("messages":40,"rejected":4,"error_rate":0.1},"groups":[],"partial":false})");
}

TEST(GatherMerge, FleetAggregateBucketsCombine) {
  auto a = Answer("n1", {1},
                  R"({"metric":"t","groups":[{"key":"all","buckets":[{"ts":"T0","min":3,"max":3,)"
                  R"("avg":3,"sum":3,"count":1}]}]})");
  auto b = Answer("n2", {2},
                  R"({"metric":"t","groups":[{"key":"all","buckets":[{"ts":"T0","min":5,"max":7,)"
                  R"("avg":6,"sum":12,"count":2}]}]})");
  EXPECT_EQ(MergeGathered(Req(GatherKind::kAggregates), {a, b}).body,
            R"({"metric":"t","groups":[{"key":"all","buckets":[{"ts":"T0","min":3,"max":7,)"
            R"("avg":5,"sum":15,"count":3}]}],"partial":false})");
}

TEST(GatherMerge, PromQlSumAddsAndSelectorsConcatenate) {
  auto a = Answer("n1", {12},
                  R"({"status":"success","data":{"resultType":"vector","result":[)"
                  R"({"metric":{},"value":[100,"3"]}]}})");
  auto b = Answer("n2", {8},
                  R"({"status":"success","data":{"resultType":"vector","result":[)"
                  R"({"metric":{},"value":[100,"5"]}]}})");
  EXPECT_EQ(MergeGathered(Req(GatherKind::kPromQuery, {{"query", "sum(temp)"}}), {a, b}).body,
            R"({"status":"success","data":{"resultType":"vector","result":[)"
            R"({"metric":{},"value":[100,"8"]}]},"partial":false})");
  auto c = Answer("n1", {12},
                  R"({"status":"success","data":{"resultType":"vector","result":[)"
                  R"({"metric":{"device_id":"a"},"value":[100,"3"]}]}})");
  auto d = Answer("n2", {8},
                  R"({"status":"success","data":{"resultType":"vector","result":[)"
                  R"({"metric":{"device_id":"foobar"},"value":[100,"5"]}]}})");
  EXPECT_EQ(MergeGathered(Req(GatherKind::kPromQuery, {{"query", "temp"}}), {c, d}).body,
            R"({"status":"success","data":{"resultType":"vector","result":[)"
            R"({"metric":{"device_id":"a"},"value":[100,"3"]},)"
            R"({"metric":{"device_id":"foobar"},"value":[100,"5"]}]},"partial":false})");
}

}  // namespace
}  // namespace fp::cluster
