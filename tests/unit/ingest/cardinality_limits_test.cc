// Cardinality limits as a spec: a device gets at most max_series_per_device series, the server
// at most max_series_total, a request at most max_metric_names_per_request distinct metric
// names; known series always pass; what a request reserved counts for every other request
// until it is released; auto-registrations are a token bucket of a minute's worth.
#include "ingest/cardinality_limits.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "ingest/heartbeat.h"
#include "ingest/line_protocol.h"
#include "ingest/telemetry_json.h"

namespace fp {
namespace {

constexpr int64_t kNow = 1'767'225'600'000;

std::vector<std::string_view> views(const std::vector<std::string>& v) {
  return {v.begin(), v.end()};
}

class CardinalityLimitsTest : public ::testing::Test {
 protected:
  CardinalityLimits make(size_t per_device, size_t total, size_t names = 0, size_t regs = 0) {
    return CardinalityLimits({per_device, total, names, regs});
  }
  // Adds `n` series m0..m{n-1} of `device` to the index, as committed data would.
  void seed(std::string_view device, size_t n) {
    for (size_t i = 0; i < n; ++i) index_.get_or_create(device, "m" + std::to_string(i));
  }
  tsdb::SeriesIndex index_;
};

TEST_F(CardinalityLimitsTest, NewSeriesBeyondTheDeviceLimitAreRefusedNamingTheOption) {
  CardinalityLimits limits = make(3, 0);
  limits.set_index(&index_);
  seed("d1", 2);
  SeriesAdmission a(limits, kNow);
  ReadingBatch b;
  const std::vector<std::string_view> known = {"m0", "m1"};
  EXPECT_EQ(a.admit(b, "d1", known), "");
  const std::vector<std::string_view> one_new = {"m0", "x"};
  EXPECT_EQ(a.admit(b, "d1", one_new), "");
  const std::vector<std::string_view> another = {"y"};
  const std::string e = a.admit(b, "d1", another);
  EXPECT_NE(e.find("--max-series-per-device"), std::string::npos) << e;
  EXPECT_NE(e.find("3"), std::string::npos) << e;
  EXPECT_EQ(a.refused(LimitKind::kSeriesPerDevice), 1u);
  EXPECT_FALSE(b.find_metric("y")) << "a refused item adds nothing to the batch";
  // Known series and series reserved by this request still pass.
  EXPECT_EQ(a.admit(b, "d1", known), "");
  EXPECT_EQ(a.admit(b, "d1", one_new), "");
  // Another device has its own budget.
  EXPECT_EQ(a.admit(b, "d2", another), "");
}

TEST_F(CardinalityLimitsTest, ReservationsOfOneRequestCountForAnotherUntilReleased) {
  CardinalityLimits limits = make(2, 0);
  limits.set_index(&index_);
  auto first = std::make_unique<SeriesAdmission>(limits, kNow);
  ReadingBatch b1, b2;
  const std::vector<std::string_view> two = {"a", "b"};
  EXPECT_EQ(first->admit(b1, "d1", two), "");
  EXPECT_EQ(limits.reserved(), 2u);
  SeriesAdmission second(limits, kNow);
  const std::vector<std::string_view> c = {"c"};
  EXPECT_NE(second.admit(b2, "d1", c), "") << "d1 has 2 series reserved in flight";
  // The first batch commits: its series are in the index, its reservations go.
  index_.get_or_create("d1", "a");
  index_.get_or_create("d1", "b");
  first.reset();
  EXPECT_EQ(limits.reserved(), 0u);
  SeriesAdmission third(limits, kNow);
  ReadingBatch b3;
  EXPECT_NE(third.admit(b3, "d1", c), "") << "d1 has 2 committed series now";
  EXPECT_EQ(third.admit(b3, "d1", two), "") << "its own series still pass";
}

TEST_F(CardinalityLimitsTest, TheTotalLimitCountsEveryDeviceAndRequest) {
  CardinalityLimits limits = make(0, 5);
  limits.set_index(&index_);
  seed("d1", 3);
  SeriesAdmission a(limits, kNow);
  ReadingBatch b;
  const std::vector<std::string_view> two = {"p", "q"};
  EXPECT_EQ(a.admit(b, "d2", two), "");
  const std::vector<std::string_view> one = {"r"};
  const std::string e = a.admit(b, "d3", one);
  EXPECT_NE(e.find("--max-series"), std::string::npos) << e;
  EXPECT_EQ(a.refused(LimitKind::kSeriesTotal), 1u);
  // Existing series are never refused.
  const std::vector<std::string_view> old = {"m0", "m2"};
  EXPECT_EQ(a.admit(b, "d1", old), "");
}

TEST_F(CardinalityLimitsTest, DistinctMetricNamesPerRequestAreCountedBeforeTheyAreInterned) {
  CardinalityLimits limits = make(0, 0, 3);
  SeriesAdmission a(limits, kNow);
  ReadingBatch b;
  const std::vector<std::string_view> ab = {"a", "b"};
  EXPECT_EQ(a.admit(b, "d1", ab), "");
  const std::vector<std::string_view> bcd = {"b", "c", "d"};
  const std::string e = a.admit(b, "d1", bcd);
  EXPECT_NE(e.find("--max-metric-names-per-request"), std::string::npos) << e;
  EXPECT_EQ(b.metrics().size(), 2u);
  const std::vector<std::string_view> ac = {"a", "c"};
  EXPECT_EQ(a.admit(b, "d2", ac), "") << "the third name still fits";
  EXPECT_EQ(b.metrics().size(), 3u);
  EXPECT_EQ(a.refused(LimitKind::kMetricNamesPerRequest), 1u);
}

TEST_F(CardinalityLimitsTest, ZeroMeansNoLimit) {
  CardinalityLimits limits = make(0, 0, 0, 0);
  limits.set_index(&index_);
  SeriesAdmission a(limits, kNow);
  ReadingBatch b;
  std::vector<std::string> names;
  for (int i = 0; i < 5000; ++i) names.push_back("n" + std::to_string(i));
  EXPECT_EQ(a.admit(b, "d1", views(names)), "");
  EXPECT_TRUE(limits.take_registrations(1'000'000, kNow));
}

TEST_F(CardinalityLimitsTest, RegistrationsAreABucketOfAMinutesWorth) {
  CardinalityLimits limits = make(0, 0, 0, 60);  // one a second
  int64_t retry = 0;
  EXPECT_TRUE(limits.take_registrations(60, kNow, &retry));
  EXPECT_FALSE(limits.take_registrations(1, kNow, &retry));
  EXPECT_EQ(retry, 1);
  EXPECT_FALSE(limits.take_registrations(5, kNow + 500, &retry));
  EXPECT_GE(retry, 4);
  EXPECT_LE(retry, 5);
  EXPECT_TRUE(limits.take_registrations(5, kNow + 5'100));
  EXPECT_FALSE(limits.take_registrations(1, kNow + 5'100));
  // More than a bucket never fits at once; the wait is for a full bucket.
  EXPECT_FALSE(limits.take_registrations(100, kNow + 600'000, &retry));
  EXPECT_TRUE(limits.take_registrations(60, kNow + 600'000));
  EXPECT_TRUE(limits.take_registrations(0, kNow + 600'000)) << "known devices take nothing";
}

TEST_F(CardinalityLimitsTest, TelemetryJsonReportsRefusedReadingsAsItemErrors) {
  CardinalityLimits limits = make(2, 0);
  limits.set_index(&index_);
  SeriesAdmission a(limits, kNow);
  TelemetryJsonOptions opt;
  opt.admission = &a;
  ReadingBatch b;
  std::vector<ItemError> errors;
  const std::string body =
      R"([{"device_id":"d1","a":1,"b":2},{"device_id":"d1","c":3},{"device_id":"d1","a":4}])";
  ASSERT_TRUE(decode_telemetry_json(body, opt, kNow, b, errors).ok());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].index, 1u);
  EXPECT_NE(errors[0].message.find("--max-series-per-device"), std::string::npos);
  EXPECT_EQ(b.points().size(), 3u);
  EXPECT_EQ(b.metrics().size(), 2u);
}

TEST_F(CardinalityLimitsTest, LineProtocolReportsRefusedLinesAsItemErrors) {
  CardinalityLimits limits = make(0, 0, 2);
  limits.set_index(&index_);
  SeriesAdmission a(limits, kNow);
  LineProtocolOptions opt;
  opt.admission = &a;
  ReadingBatch b;
  std::vector<ItemError> errors;
  decode_line_protocol(
      "m,device_id=d1 a=1,b=2\nm,device_id=d1 a=3\nm,device_id=d1 c=1\n"
      "m,device_id=d2 a=1\n",
      opt, kNow, b, errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].index, 2u);
  EXPECT_NE(errors[0].message.find("--max-metric-names-per-request"), std::string::npos);
  EXPECT_EQ(b.points().size(), 4u);
}

TEST(ReadingTime, HeartbeatsAndTelemetryRefuseTheSameTimes) {
  // The heartbeat decoder goes through optional_time, telemetry through its reading decoder:
  // both end in parse_reading_time.
  ReadingBatch b;
  std::vector<ItemError> errors;
  ASSERT_TRUE(decode_telemetry_json(R"({"device_id":"d1","ts":"9999-01-01T00:00:00Z","a":1})", {},
                                    kNow, b, errors)
                  .ok());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("out of range"), std::string::npos) << errors[0].message;

  for (const char* body :
       {R"({"device_id":"d1","ts":"9999-01-01T00:00:00Z"})",
        R"({"device_id":"d1","ts":253402300800000})", R"({"device_id":"d1","timestamp":-5})"}) {
    auto hb = decode_heartbeat(body, "", kNow);
    ASSERT_FALSE(hb.ok()) << body;
    EXPECT_EQ(hb.status().code(), StatusCode::kUnprocessable);
    EXPECT_NE(hb.status().message().find("out of range"), std::string::npos)
        << hb.status().message();
  }
  auto ok = decode_heartbeat(R"({"device_id":"d1","ts":"2026-01-01T00:00:00Z"})", "", kNow);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->device_ts_ms, int64_t{1'767'225'600'000});
  auto secs = decode_heartbeat(R"({"device_id":"d1","ts":1767225600})", "", kNow);
  ASSERT_TRUE(secs.ok());
  EXPECT_EQ(secs->device_ts_ms, int64_t{1'767'225'600'000}) << "seconds are still guessed";
}

TEST(InputSizes, DeviceIdsThatArePathSegmentsAndOversizedTextAreRefused) {
  EXPECT_NE(validate_device_id("."), "");
  EXPECT_NE(validate_device_id(".."), "");
  EXPECT_EQ(validate_device_id("..."), "");
  EXPECT_EQ(validate_device_id("a.b"), "");
  auto hb = decode_heartbeat(R"({"device_id":".."})", "", kNow);
  EXPECT_FALSE(hb.ok());
  const std::string big(300, 'x');
  auto named = decode_heartbeat(R"({"device_id":"d1","name":")" + big + R"("})", "", kNow);
  ASSERT_FALSE(named.ok());
  EXPECT_NE(named.status().message().find("name is longer than 256 bytes"), std::string::npos);
  auto located = decode_heartbeat(R"({"device_id":"d1","location":")" + big + R"("})", "", kNow);
  EXPECT_FALSE(located.ok());
  ReadingBatch b;
  std::vector<ItemError> errors;
  const std::string attr(kMaxAttributeValueBytes + 1, 'v');
  ASSERT_TRUE(
      decode_telemetry_json(R"({"device_id":"d1","fw":")" + attr + R"("})", {}, kNow, b, errors)
          .ok());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("longer than 4096 bytes"), std::string::npos);
}

}  // namespace
}  // namespace fp
