// The telemetry JSON decoder, as a spec: every reading form, body shape and rejection.
#include "ingest/telemetry_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "unit/ingest/decoded_batch.h"

namespace fp {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct Decoded : DecodedBatch {
  Status status;
  size_t items = 0;
};

Decoded decode(std::string_view body, TelemetryJsonOptions opt = {}) {
  Decoded d;
  d.status = decode_telemetry_json(body, opt, kNow, d.batch, d.errors, &d.items);
  return d;
}

TelemetryJsonOptions with_precision(Precision p) {
  TelemetryJsonOptions o;
  o.precision = p;
  return o;
}

TelemetryJsonOptions for_path_device(std::string id) {
  TelemetryJsonOptions o;
  o.path_device_id = std::move(id);
  return o;
}

// The first error message of a single reading.
std::string error_of(std::string_view reading, TelemetryJsonOptions opt = {}) {
  auto d = decode(reading, std::move(opt));
  EXPECT_TRUE(d.status.ok()) << d.status.message();
  EXPECT_TRUE(d.batch.empty()) << reading;
  EXPECT_THAT(d.error_indexes(), ElementsAre(0u)) << reading;
  return d.first_error();
}

// --- The four reading forms ----------------------------------------------------------------

TEST(TelemetryJson, FlatReadingMakesEveryNumericFieldAMetric) {
  auto d = decode(
      R"({"device_id":"dev-1","ts":"2026-02-12T16:00:00Z","temperature_c":25.5,"humidity":60.0,"lat":52.1,"lon":4.3})");
  ASSERT_TRUE(d.status.ok());
  EXPECT_THAT(d.errors, IsEmpty());
  const int64_t ts = 1770912000000;
  EXPECT_THAT(d.points(),
              ElementsAre(P{"dev-1", "temperature_c", ts, 25.5}, P{"dev-1", "humidity", ts, 60},
                          P{"dev-1", "lat", ts, 52.1}, P{"dev-1", "lon", ts, 4.3}));
  EXPECT_EQ(d.items, 1u);
}

TEST(TelemetryJson, MetricValueFormWithUnit) {
  auto d = decode(
      R"({"device_id":"d1","metric":"temperature","value":22.5,"unit":"celsius","ts":1767225600000})");
  EXPECT_THAT(d.points(), ElementsAre(P{"d1", "temperature", 1767225600000, 22.5}));
  EXPECT_THAT(d.attributes("d1"),
              (std::map<std::string, std::string>{{"temperature.unit", "celsius"}}));
}

TEST(TelemetryJson, MetricTypeValueForm) {
  auto d = decode(R"({"device_id":"d1","metric_type":"humidity","value":55.2})");
  EXPECT_THAT(d.points(), ElementsAre(P{"d1", "humidity", kNow, 55.2}));
}

TEST(TelemetryJson, ValuesObjectForm) {
  auto d = decode(
      R"({"device_id":"d1","ts":1767225600000,"values":{"temperature":21.3,"voltage":3.7}})");
  EXPECT_THAT(d.points(), ElementsAre(P{"d1", "temperature", 1767225600000, 21.3},
                                      P{"d1", "voltage", 1767225600000, 3.7}));
}

TEST(TelemetryJson, AllFormsMixInOneArray) {
  auto d = decode(R"([
    {"device_id":"dev-1","ts":"2026-02-12T16:00:00Z","temperature_c":25.5},
    {"device_id":"d1","metric":"temperature","value":22.5,"unit":"celsius","ts":1767225600000},
    {"device_id":"d1","metric_type":"humidity","value":55.2},
    {"device_id":"d1","ts":1767225600000,"values":{"temperature":21.3,"voltage":3.7}}
  ])");
  ASSERT_TRUE(d.status.ok());
  EXPECT_THAT(d.errors, IsEmpty());
  EXPECT_EQ(d.items, 4u);
  EXPECT_THAT(d.points(), ElementsAre(P{"dev-1", "temperature_c", 1770912000000, 25.5},
                                      P{"d1", "temperature", 1767225600000, 22.5},
                                      P{"d1", "humidity", kNow, 55.2},
                                      P{"d1", "temperature", 1767225600000, 21.3},
                                      P{"d1", "voltage", 1767225600000, 3.7}));
  EXPECT_EQ(d.batch.devices().size(), 2u);
  EXPECT_EQ(d.batch.metrics().size(), 4u);
}

TEST(TelemetryJson, FormsCombineWithinOneReading) {
  auto d = decode(R"({"device_id":"d1","metric":"t","value":1,"values":{"v":2},"battery":90})");
  EXPECT_THAT(d.points(), ElementsAre(P{"d1", "battery", kNow, 90}, P{"d1", "t", kNow, 1},
                                      P{"d1", "v", kNow, 2}));
}

// --- Body shapes -----------------------------------------------------------------------------

TEST(TelemetryJson, ReadingsEnvelopeIsAccepted) {
  auto d = decode(R"({"readings":[{"device_id":"a","x":1},{"device_id":"b","x":2}]})");
  ASSERT_TRUE(d.status.ok());
  EXPECT_THAT(d.points(), ElementsAre(P{"a", "x", kNow, 1}, P{"b", "x", kNow, 2}));
  EXPECT_EQ(d.items, 2u);
}

TEST(TelemetryJson, ReadingsKeyThatIsNotAnArrayIsAFlatMetric) {
  auto d = decode(R"({"device_id":"a","readings":7})");
  EXPECT_THAT(d.points(), ElementsAre(P{"a", "readings", kNow, 7}));
}

TEST(TelemetryJson, OtherJsonShapesAreUnprocessable) {
  for (const char* body : {"42", "\"text\"", "true", "null"}) {
    auto d = decode(body);
    EXPECT_EQ(d.status.code(), StatusCode::kUnprocessable) << body;
    EXPECT_THAT(d.status.message(), HasSubstr("reading object")) << body;
  }
}

TEST(TelemetryJson, TextThatIsNotJsonIsMalformed) {
  for (const char* body : {"", "{", "{\"device_id\":}", "[1,2", "temperature=5", "{} {}"}) {
    auto d = decode(body);
    EXPECT_EQ(d.status.code(), StatusCode::kMalformed) << body;
    EXPECT_TRUE(d.batch.empty());
  }
}

TEST(TelemetryJson, EmptyArrayDecodesToNothing) {
  auto d = decode("[]");
  EXPECT_TRUE(d.status.ok());
  EXPECT_TRUE(d.batch.empty());
  EXPECT_THAT(d.errors, IsEmpty());
  EXPECT_EQ(d.items, 0u);
}

TEST(TelemetryJson, AtMost100000ReadingsPerBody) {
  auto body_of = [](size_t n) {
    std::string body = "[";
    for (size_t i = 0; i < n; ++i)
      body += i ? ",{\"device_id\":\"d\",\"x\":1}" : "{\"device_id\":\"d\",\"x\":1}";
    return body + "]";
  };
  auto ok = decode(body_of(kMaxTelemetryItems));
  ASSERT_TRUE(ok.status.ok());
  EXPECT_EQ(ok.batch.points().size(), kMaxTelemetryItems);

  auto too_many = decode(body_of(kMaxTelemetryItems + 1));
  EXPECT_EQ(too_many.status.code(), StatusCode::kUnprocessable);
  EXPECT_THAT(too_many.status.message(), HasSubstr("too many readings: 100001"));
  EXPECT_TRUE(too_many.batch.empty());
}

// --- Values: numbers, booleans, strings, reserved keys ----------------------------------------

TEST(TelemetryJson, BooleansBecomeOneAndZero) {
  auto d = decode(
      R"([{"device_id":"d","door_open":true,"alarm":false},{"device_id":"d","metric":"m","value":true}])");
  EXPECT_THAT(d.points(), ElementsAre(P{"d", "door_open", kNow, 1}, P{"d", "alarm", kNow, 0},
                                      P{"d", "m", kNow, 1}));
}

TEST(TelemetryJson, IntegersOfAnySizeAreNumbers) {
  auto d = decode(R"({"device_id":"d","a":-5,"b":18446744073709551615,"c":1e300})");
  EXPECT_THAT(d.points(),
              ElementsAre(P{"d", "a", kNow, -5}, P{"d", "b", kNow, 18446744073709551615.0},
                          P{"d", "c", kNow, 1e300}));
}

TEST(TelemetryJson, StringFieldsAreKeptAsDeviceAttributes) {
  auto d = decode(
      R"({"device_id":"d","ts":1000,"firmware":"1.2.3","rssi":-70,"values":{"mode":"eco"}})");
  EXPECT_THAT(d.points(), ElementsAre(P{"d", "rssi", 1000, -70}));
  EXPECT_THAT(d.attributes("d"),
              (std::map<std::string, std::string>{{"firmware", "1.2.3"}, {"mode", "eco"}}));
  for (const Attribute& a : d.batch.attributes()) EXPECT_EQ(a.ts_ms, 1000);
}

TEST(TelemetryJson, UnitAndNameAreAttributesButNotValuesByThemselves) {
  auto d = decode(R"({"device_id":"d","unit":"celsius","name":"Boiler","temp":70})");
  EXPECT_THAT(d.points(), ElementsAre(P{"d", "temp", kNow, 70}));
  EXPECT_THAT(d.attributes("d"),
              (std::map<std::string, std::string>{{"name", "Boiler"}, {"unit", "celsius"}}));
  EXPECT_THAT(error_of(R"({"device_id":"d","unit":"celsius","name":"Boiler"})"),
              HasSubstr("no values"));
}

TEST(TelemetryJson, StringValueInMetricFormIsAnItemErrorNotASwallowedAttribute) {
  auto d = decode(R"([{"device_id":"d","metric":"m","value":1.0},
                      {"device_id":"d","metric":"m","value":"abc"},
                      {"device_id":"d","metric_type":"m","value":"1.5"}])");
  EXPECT_THAT(d.points(), ElementsAre(P{"d", "m", kNow, 1.0}));
  EXPECT_THAT(d.error_indexes(), ElementsAre(1, 2));
  EXPECT_EQ(d.first_error(), "value must be a number or boolean, got string");
  EXPECT_TRUE(d.attributes("d").empty());
}

TEST(TelemetryJson, ReadingsWithoutTimeAreMarkedForServerStampsOthersAreNot) {
  auto d = decode(R"([{"device_id":"d","a":1,"b":2},{"device_id":"d","ts":5,"a":3},
                      {"device_id":"d","metric":"a","value":4,"ts":null}])");
  EXPECT_THAT(d.points(), ElementsAre(P{"d", "a", kNow, 1}, P{"d", "b", kNow, 2}, P{"d", "a", 5, 3},
                                      P{"d", "a", kNow, 4}));
  EXPECT_THAT(d.batch.unstamped(), ElementsAre(0u, 1u, 3u));
}

TEST(TelemetryJson, ReservedKeysAreNeverMetrics) {
  auto d = decode(
      R"({"device_id":"d","ts":1,"timestamp":2,"time":3,"metric":"m","metric_type":"m","value":4,"unit":"u","values":{},"name":"n"})");
  EXPECT_THAT(d.points(), ElementsAre(P{"d", "m", 1, 4}));
  EXPECT_EQ(d.batch.metrics().size(), 1u);
}

TEST(TelemetryJson, MetricNamesMayBeAnyPrintableUtf8) {
  auto d = decode(R"({"device_id":"d","température °C":21,"a b/c":1})");
  EXPECT_THAT(d.points(),
              ElementsAre(P{"d", "température °C", kNow, 21}, P{"d", "a b/c", kNow, 1}));
}

// --- Time ------------------------------------------------------------------------------------

TEST(TelemetryJson, TimeComesFromTsTimestampOrTimeInThatOrder) {
  auto d = decode(R"([{"device_id":"d","x":1,"timestamp":2000,"ts":1000},
                     {"device_id":"d","x":2,"time":3000,"timestamp":2000},
                     {"device_id":"d","x":3,"time":3000},
                     {"device_id":"d","x":4,"ts":null,"time":4000}])");
  ASSERT_THAT(d.errors, IsEmpty());
  EXPECT_THAT(d.points(), ElementsAre(P{"d", "x", 1000, 1}, P{"d", "x", 2000, 2},
                                      P{"d", "x", 3000, 3}, P{"d", "x", 4000, 4}));
}

TEST(TelemetryJson, ReadingWithoutTimeGetsTheReceiveTime) {
  auto d = decode(R"({"device_id":"d","x":1,"ts":null})");
  EXPECT_THAT(d.points(), ElementsAre(P{"d", "x", kNow, 1}));
}

TEST(TelemetryJson, Rfc3339TimesWithFractionsAndOffsets) {
  auto d = decode(R"([{"device_id":"d","x":1,"ts":"2026-01-01T00:00:00.250Z"},
                     {"device_id":"d","x":2,"ts":"2026-01-01T02:00:00+02:00"}])");
  EXPECT_THAT(d.points(), ElementsAre(P{"d", "x", kNow + 250, 1}, P{"d", "x", kNow, 2}));
}

TEST(TelemetryJson, NumericTimesFollowThePrecision) {
  const std::pair<Precision, const char*> cases[] = {
      {Precision::kSeconds, "1767225600"},           {Precision::kSeconds, "1767225600.25"},
      {Precision::kMillis, "1767225600000"},         {Precision::kMicros, "1767225600000000"},
      {Precision::kNanos, "1767225600000000000"},    {Precision::kMillis, "\"1767225600000\""},
      {Precision::kNanos, "\"1767225600000000000\""}};
  for (const auto& [precision, ts] : cases) {
    auto d = decode(std::string(R"({"device_id":"d","x":1,"ts":)") + ts + "}",
                    with_precision(precision));
    ASSERT_THAT(d.errors, IsEmpty()) << ts;
    EXPECT_EQ(d.points().at(0).ts, std::string(ts) == "1767225600.25" ? kNow + 250 : kNow) << ts;
  }
}

TEST(TelemetryJson, TimesOutside1970To2262AreRejected) {
  EXPECT_THAT(error_of(R"({"device_id":"d","x":1,"ts":-1})"), HasSubstr("ts is out of range"));
  EXPECT_THAT(error_of(R"({"device_id":"d","x":1,"ts":"1969-12-31T23:59:59Z"})"),
              HasSubstr("out of range"));
  EXPECT_THAT(error_of(R"({"device_id":"d","x":1,"ts":"2263-01-01T00:00:00Z"})"),
              HasSubstr("out of range"));
  EXPECT_THAT(error_of(R"({"device_id":"d","x":1,"time":18446744073709551615})"),
              HasSubstr("time is out of range"));
  EXPECT_THAT(
      error_of(R"({"device_id":"d","x":1,"ts":9300000000})", with_precision(Precision::kSeconds)),
      HasSubstr("out of range"));
  EXPECT_THAT(error_of(R"({"device_id":"d","x":1,"ts":1e300})"), HasSubstr("out of range"));
  EXPECT_THAT(error_of(R"({"device_id":"d","x":1,"ts":"99999999999999999999"})"),
              HasSubstr("out of range"));
}

TEST(TelemetryJson, BadTimesAreRejectedNamingTheField) {
  EXPECT_THAT(error_of(R"({"device_id":"d","x":1,"ts":"yesterday"})"),
              HasSubstr("ts must be an RFC 3339 time or an epoch number, got 'yesterday'"));
  EXPECT_THAT(error_of(R"({"device_id":"d","x":1,"timestamp":true})"),
              HasSubstr("timestamp must be an RFC 3339 string or an epoch number, got boolean"));
  EXPECT_THAT(error_of(R"({"device_id":"d","x":1,"time":{}})"), HasSubstr("got object"));
}

// --- Devices ---------------------------------------------------------------------------------

TEST(TelemetryJson, DeviceIdIsRequiredAndValidated) {
  EXPECT_EQ(error_of(R"({"x":1})"), "device_id is required");
  EXPECT_EQ(error_of(R"({"device_id":"","x":1})"), "device_id is required");
  EXPECT_THAT(error_of(R"({"device_id":7,"x":1})"),
              HasSubstr("device_id must be a string, got number"));
  EXPECT_FALSE(error_of(R"({"device_id":"has space","x":1})").empty());
}

TEST(TelemetryJson, PathDeviceMayBeOmittedOrRepeatedButNotContradicted) {
  auto d = decode(R"([{"x":1},{"device_id":"d7","x":2},{"device_id":"other","x":3}])",
                  for_path_device("d7"));
  EXPECT_THAT(d.points(), ElementsAre(P{"d7", "x", kNow, 1}, P{"d7", "x", kNow, 2}));
  EXPECT_THAT(d.error_indexes(), ElementsAre(2u));
  EXPECT_THAT(d.first_error(), HasSubstr("does not match"));
}

// --- Per-reading rejection ---------------------------------------------------------------------

TEST(TelemetryJson, InvalidReadingsAreRejectedWithTheirIndexAndValidOnesKept) {
  auto d = decode(R"([
    {"device_id":"a","x":1},
    {"device_id":"b","temperature":{"c":1}},
    {"device_id":"c","x":3},
    {"device_id":"d","temperature":[1,2]},
    "not an object",
    {"device_id":"e","x":5}
  ])");
  ASSERT_TRUE(d.status.ok());
  EXPECT_EQ(d.items, 6u);
  EXPECT_THAT(d.error_indexes(), ElementsAre(1u, 3u, 4u));
  EXPECT_EQ(d.errors[0].message, "temperature must be a number, boolean or string, got object");
  EXPECT_EQ(d.errors[1].message, "temperature must be a number, boolean or string, got array");
  EXPECT_EQ(d.errors[2].message, "reading must be a JSON object, got string");
  EXPECT_THAT(d.points(),
              ElementsAre(P{"a", "x", kNow, 1}, P{"c", "x", kNow, 3}, P{"e", "x", kNow, 5}));
}

TEST(TelemetryJson, RejectedReadingAddsNothingAtAllToTheBatch) {
  // Valid fields come first, the bad one last: no point, attribute, device or metric remains.
  auto d = decode(R"({"device_id":"d9","ok":1,"fw":"1.0","bad":null})");
  EXPECT_THAT(d.error_indexes(), ElementsAre(0u));
  EXPECT_TRUE(d.batch.empty());
  EXPECT_THAT(d.batch.devices(), IsEmpty());
  EXPECT_THAT(d.batch.metrics(), IsEmpty());
}

TEST(TelemetryJson, SingleReadingErrorHasIndexZero) {
  auto d = decode(R"({"device_id":"d"})");
  ASSERT_TRUE(d.status.ok());
  EXPECT_EQ(d.items, 1u);
  EXPECT_THAT(d.error_indexes(), ElementsAre(0u));
  EXPECT_THAT(d.first_error(), HasSubstr("reading has no values"));
}

TEST(TelemetryJson, NullValuesAreErrorsNotSilentDrops) {
  EXPECT_EQ(error_of(R"({"device_id":"d","humidity":null})"),
            "humidity must be a number, boolean or string, got null");
  EXPECT_EQ(error_of(R"({"device_id":"d","metric":"m","value":null})"),
            "value is required with metric m");
}

TEST(TelemetryJson, MetricFormNeedsBothNameAndValue) {
  EXPECT_EQ(error_of(R"({"device_id":"d","metric":"temperature"})"),
            "value is required with metric temperature");
  EXPECT_EQ(error_of(R"({"device_id":"d","value":3})"),
            "value needs a metric (or metric_type) naming it");
  EXPECT_EQ(error_of(R"({"device_id":"d","metric":5,"value":3})"),
            "metric must be a string, got number");
  EXPECT_EQ(error_of(R"({"device_id":"d","metric":"m","value":{}})"),
            "value must be a number or boolean, got object");
  EXPECT_THAT(error_of(R"({"device_id":"d","metric":"a","metric_type":"b","value":1})"),
              HasSubstr("disagree"));
  EXPECT_THAT(error_of(R"({"device_id":"d","metric":"","value":1})"),
              HasSubstr("must not be empty"));
}

TEST(TelemetryJson, ValuesMustBeAnObjectOfScalars) {
  EXPECT_EQ(error_of(R"({"device_id":"d","values":[1,2]})"), "values must be an object, got array");
  EXPECT_EQ(error_of(R"({"device_id":"d","values":{"t":{"x":1}}})"),
            "values.t must be a number, boolean or string, got object");
  EXPECT_THAT(error_of(R"({"device_id":"d","values":{}})"), HasSubstr("no values"));
}

TEST(TelemetryJson, UnitAndNameMustBeStrings) {
  EXPECT_EQ(error_of(R"({"device_id":"d","x":1,"unit":5})"), "unit must be a string, got number");
  EXPECT_EQ(error_of(R"({"device_id":"d","x":1,"name":["a"]})"),
            "name must be a string, got array");
}

TEST(TelemetryJson, InvalidMetricNamesAreRejected) {
  EXPECT_THAT(error_of(R"({"device_id":"d","":1})"), HasSubstr("must not be empty"));
  EXPECT_THAT(error_of(R"({"device_id":"d","bad\u0001name":1})"), HasSubstr("control characters"));
  EXPECT_THAT(error_of(R"({"device_id":"d",")" + std::string(201, 'k') + R"(":1})"),
              HasSubstr("longer than 200"));
}

TEST(TelemetryJson, MessagesQuoteHostileKeysSafely) {
  const std::string msg = error_of(R"({"device_id":"d","x\ny":{}})");
  EXPECT_EQ(msg, "'x?y' must be a number, boolean or string, got object");
}

}  // namespace
}  // namespace fp
