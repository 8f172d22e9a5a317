// PublishBatch: the telemetry PUBLISHes of one socket read are decoded one after the other into
// one ReadingBatch and submitted once. Each message is still checked alone: a refused one is
// answered alone and leaves nothing in the batch (also when it is refused after its readings
// went in: the batch is cut back, roll_back_to), the accepted ones complete together once the
// batch is durable, and each message is its own request for the metric-names limit.

#include "mqtt/publish_batch.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "ingest/ingestor.h"
#include "ingest/write_path.h"
#include "metrics/server_metrics.h"
#include "monitor/device_status_tracker.h"
#include "mqtt/batch_rollback.h"
#include "mqtt/packet_types.h"
#include "storage/catalog/catalog.h"
#include "util/clock.h"

namespace fp::mqtt {
namespace {

TEST(RollBackTo, CutsABatchBackToItsMarkKeepingIndexesStampsAndSeriesIds) {
  ReadingBatch b;
  const uint32_t a = b.intern_device("a"), t = b.intern_metric("t");
  b.add(a, t, 1000, 1);
  b.add_unstamped(a, t, 1500, 2);
  b.add_attribute(a, "fw", "1.0", 1000);
  b.resolved_series().generation = 7;
  b.resolved_series().put(SeriesPairs::key(a, t), 40);
  b.set_wire_bytes(10);
  const BatchMark mark = mark_of(b);

  // A message that went in, then was refused: a new device, a new metric, both kinds of point.
  const uint32_t c = b.intern_device("c"), h = b.intern_metric("h");
  b.add(a, h, 2000, 3);
  b.add_unstamped(c, t, 2500, 4);
  b.add_attribute(c, "fw", "2.0", 2000);
  b.resolved_series().put(SeriesPairs::key(a, h), SeriesPairs::kUnresolved);
  b.resolved_series().put(SeriesPairs::key(c, t), 41);
  b.set_wire_bytes(30);

  roll_back_to(b, mark);
  EXPECT_EQ(b.devices(), std::vector<std::string>{"a"});
  EXPECT_EQ(b.metrics(), std::vector<std::string>{"t"});
  ASSERT_EQ(b.points().size(), 2u);
  EXPECT_EQ(b.points()[1].ts_ms, 1500);
  EXPECT_EQ(b.unstamped(), std::vector<uint32_t>{1});
  ASSERT_EQ(b.attributes().size(), 1u);
  EXPECT_EQ(b.attributes()[0].value, "1.0");
  EXPECT_EQ(b.resolved_series().size(), 1u);
  ASSERT_NE(b.resolved_series().find(SeriesPairs::key(a, t)), nullptr);
  EXPECT_EQ(*b.resolved_series().find(SeriesPairs::key(a, t)), 40u);
  EXPECT_EQ(b.resolved_series().generation, 7u);
  EXPECT_EQ(b.wire_bytes(), 10u);
  EXPECT_FALSE(b.find_device("c"));
  EXPECT_FALSE(b.find_metric("h"));
  // Interning goes on where the kept part ends.
  EXPECT_EQ(b.intern_device("d"), 1u);
}

// The write path as the batch sees it: what was submitted, answered when the test says.
class CapturingWritePath final : public WritePath {
 public:
  void submit_heartbeat(HeartbeatReport, std::function<void(HeartbeatAck)> done) override {
    done({});
  }
  void submit_telemetry(std::shared_ptr<ReadingBatch> batch, int64_t,
                        std::function<void(TelemetryAck)> done) override {
    batches.push_back(std::move(batch));
    answers.push_back(std::move(done));
  }
  void submit_removal(std::optional<std::string>, bool, std::function<void(Status)> done) override {
    done(Status::Ok());
  }
  void submit_device_change(DeviceChange, std::function<void(Status)> done) override {
    done(Status::Ok());
  }
  std::vector<std::shared_ptr<ReadingBatch>> batches;
  std::vector<std::function<void(TelemetryAck)>> answers;
};

class PublishBatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Catalog::open(":memory:", clock_);
    ASSERT_TRUE(c.ok()) << c.status().message();
    catalog_ = std::move(c).value();
    IngestorOptions o;
    o.limits.max_registrations_per_minute = 2;  // a third new device is refused
    o.limits.max_metric_names_per_request = 2;
    ingestor_ = std::make_unique<Ingestor>(*catalog_, tracker_, nullptr, clock_, o);
  }
  IngestSinks sinks() { return {writes_, *ingestor_, server_metrics_, clock_}; }
  static TopicMatch telemetry(std::string device) { return {std::move(device)}; }

  ManualClock clock_;
  DeviceStatusTracker tracker_{StatusPolicy{}, clock_};
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<Ingestor> ingestor_;
  metrics::Registry registry_;
  metrics::ServerMetrics server_metrics_{registry_};
  CapturingWritePath writes_;
};

TEST_F(PublishBatchTest, ARefusedMessageLeavesNothingAndTheOthersCompleteTogether) {
  PublishBatch batch;
  // One read: devices a and b, an invalid payload, a third new device over the registration
  // rate (refused after its readings were decoded in), and each message naming 2 metrics of
  // its own: 6 in the batch, but 2 per message, within the per-request limit of 2.
  EXPECT_TRUE(batch.add(sinks(), telemetry("a"), R"({"ts":1000,"t":1,"h":2})", 1).submitted());
  EXPECT_TRUE(batch.add(sinks(), telemetry("b"), R"({"ts":1000,"u":3,"v":4})", 2).submitted());
  const Refusal invalid = batch.add(sinks(), telemetry("a"), "{oops", 3);
  EXPECT_EQ(invalid.reason, reason::kPayloadFormatInvalid);
  EXPECT_STREQ(invalid.label, "invalid_telemetry");
  const Refusal rate = batch.add(sinks(), telemetry("c"), R"({"ts":1000,"w":5,"fw":"1.0"})", 4);
  EXPECT_EQ(rate.reason, reason::kQuotaExceeded);
  EXPECT_STREQ(rate.label, "registration_rate_limit");
  const Refusal names = batch.add(sinks(), telemetry("a"), R"({"ts":1001,"x":1,"y":2,"z":3})", 5);
  EXPECT_EQ(names.reason, reason::kQuotaExceeded);
  EXPECT_STREQ(names.label, "metric_names_per_request_limit");
  EXPECT_TRUE(batch.add(sinks(), telemetry("a"), R"({"ts":1002,"t":7,"k":8})", 6).submitted());
  ASSERT_FALSE(batch.empty());

  std::vector<uint64_t> completed;
  int calls = 0;
  batch.submit(sinks(), [&](std::vector<uint64_t> seqs, bool durable) {
    ++calls;
    EXPECT_TRUE(durable);
    completed = std::move(seqs);
  });
  EXPECT_TRUE(batch.empty());
  ASSERT_EQ(writes_.batches.size(), 1u) << "one submission for the read";
  const ReadingBatch& b = *writes_.batches[0];
  EXPECT_EQ(b.devices(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(b.metrics(), (std::vector<std::string>{"t", "h", "u", "v", "k"}));
  ASSERT_EQ(b.points().size(), 6u);
  EXPECT_TRUE(b.attributes().empty()) << "the refused message's attribute went with it";
  EXPECT_EQ(b.points()[4].ts_ms, 1002);
  EXPECT_EQ(b.points()[4].value, 7);
  EXPECT_EQ(b.wire_bytes(), std::string(R"({"ts":1000,"t":1,"h":2})").size() * 2 +
                                std::string(R"({"ts":1002,"t":7,"k":8})").size());
  EXPECT_EQ(calls, 0) << "not before it is durable";
  writes_.answers[0]({});
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(completed, (std::vector<uint64_t>{1, 2, 6}));
}

TEST_F(PublishBatchTest, AReadWhoseMessagesAreAllRefusedSubmitsNothing) {
  PublishBatch batch;
  EXPECT_FALSE(batch.add(sinks(), telemetry("a"), "[]", 1).submitted());
  EXPECT_FALSE(batch.add(sinks(), telemetry("a"), R"({"ts":1,"t":"x","u":{}})", 2).submitted());
  EXPECT_TRUE(batch.empty());
  batch.submit(sinks(), [](std::vector<uint64_t>, bool) { FAIL() << "nothing to complete"; });
  EXPECT_TRUE(writes_.batches.empty());
  // The next read starts afresh.
  EXPECT_TRUE(batch.add(sinks(), telemetry("a"), R"({"ts":1,"t":1})", 3).submitted());
  batch.submit(sinks(), [](std::vector<uint64_t>, bool) {});
  ASSERT_EQ(writes_.batches.size(), 1u);
  EXPECT_EQ(writes_.batches[0]->points().size(), 1u);
}

}  // namespace
}  // namespace fp::mqtt
