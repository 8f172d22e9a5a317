// The line protocol decoder, as a spec: what InfluxDB/Telegraf clients send and what becomes
// of it.
#include "ingest/line_protocol.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "unit/ingest/decoded_batch.h"

namespace fp {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr int64_t kTsMs = 1'767'225'600'123;

struct Decoded : DecodedBatch {
  size_t lines = 0;
};

Decoded decode(std::string_view body, LineProtocolOptions opt = {}) {
  Decoded d;
  decode_line_protocol(body, opt, kNow, d.batch, d.errors, &d.lines);
  return d;
}

LineProtocolOptions without_tags() {
  LineProtocolOptions o;
  o.tags_as_attributes = false;
  return o;
}

// --- Lines, devices and metrics ----------------------------------------------------------

TEST(LineProtocol, EachFieldOfALineBecomesAPointOfMeasurementDotField) {
  auto d = decode("weather,device_id=d1 temp=21.5,hum=60 1767225600123000000");
  EXPECT_THAT(d.errors, IsEmpty());
  EXPECT_THAT(d.points(),
              ElementsAre(P{"d1", "weather.temp", kTsMs, 21.5}, P{"d1", "weather.hum", kTsMs, 60}));
  EXPECT_EQ(d.lines, 1u);
}

TEST(LineProtocol, MetricIsTheBareFieldWhenPrefixingIsOff) {
  LineProtocolOptions o;
  o.prefix_measurement = false;
  auto d = decode("weather,device_id=d1 temp=21.5", o);
  EXPECT_THAT(d.points(), ElementsAre(P{"d1", "temp", kNow, 21.5}));
}

TEST(LineProtocol, DeviceComesFromTheMostPreferredDeviceTagWhateverTheTagOrder) {
  auto d = decode(
      "m,name=n1,host=h1,device_id=d1 x=1\n"
      "m,name=n2,host=h2 x=2\n"
      "m,name=n3 x=3\n",
      without_tags());
  EXPECT_THAT(d.errors, IsEmpty());
  ASSERT_EQ(d.points().size(), 3u);
  EXPECT_EQ(d.points()[0].device, "d1");
  EXPECT_EQ(d.points()[1].device, "h2");
  EXPECT_EQ(d.points()[2].device, "n3");
}

TEST(LineProtocol, DeviceTagsAreConfigurable) {
  LineProtocolOptions o;
  o.device_tags = {"truck", "vin"};
  auto d = decode("gps,vin=V1,truck=T7 speed=80\ngps,host=h1 speed=1", o);
  EXPECT_THAT(d.points(), ElementsAre(P{"T7", "gps.speed", kNow, 80}));
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_EQ(d.errors[0].index, 1u);
  EXPECT_THAT(d.errors[0].message, HasSubstr("expected one of: truck, vin"));
}

TEST(LineProtocol, LineWithoutDeviceTagIsRejectedAndOtherLinesAreKept) {
  auto d = decode("cpu,region=eu usage=5\ncpu,host=a usage=6\n");
  EXPECT_THAT(d.error_indexes(), ElementsAre(0u));
  EXPECT_THAT(d.first_error(), HasSubstr("no device tag (expected one of: device_id, host, name)"));
  EXPECT_THAT(d.points(), ElementsAre(P{"a", "cpu.usage", kNow, 6}));
  EXPECT_EQ(d.lines, 2u);
}

TEST(LineProtocol, InvalidDeviceIdIsAnErrorNamingTheTag) {
  auto d = decode("m,host=bad/host x=1");
  EXPECT_THAT(d.error_indexes(), ElementsAre(0u));
  EXPECT_THAT(d.first_error(), HasSubstr("tag host"));
  EXPECT_TRUE(d.batch.empty());
}

TEST(LineProtocol, RejectedLineAddsNothingAtAllToTheBatch) {
  // The first field is fine; the second is not: no point, device or metric name remains.
  auto d = decode("m,device_id=d9,site=x a=1,b=oops 1767225600000000000");
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_TRUE(d.batch.empty());
  EXPECT_THAT(d.batch.devices(), IsEmpty());
  EXPECT_THAT(d.batch.metrics(), IsEmpty());
}

TEST(LineProtocol, LinesOfDifferentShapesGetTheRightMetricNames) {
  // Exercises the previous-line name cache: same positions, different keys or measurements.
  auto d = decode(
      "a,device_id=d x=1,y=2\n"
      "b,device_id=d x=3,y=4\n"
      "a,device_id=d y=5,x=6\n"
      "a,device_id=e y=7\n"
      "a,device_id=d s=\"text\"\n"
      "a,device_id=d s=8\n");
  EXPECT_THAT(d.errors, IsEmpty());
  EXPECT_THAT(d.points(),
              ElementsAre(P{"d", "a.x", kNow, 1}, P{"d", "a.y", kNow, 2}, P{"d", "b.x", kNow, 3},
                          P{"d", "b.y", kNow, 4}, P{"d", "a.y", kNow, 5}, P{"d", "a.x", kNow, 6},
                          P{"e", "a.y", kNow, 7}, P{"d", "a.s", kNow, 8}));
  EXPECT_EQ(d.batch.metrics().size(), 5u);
}

TEST(LineProtocol, RepeatedNamesAreInternedOnce) {
  std::string body;
  for (int i = 0; i < 100; ++i)
    body += "m,device_id=d" + std::to_string(i % 3) + " a=1,b=2 " + std::to_string(i) + "\n";
  auto d = decode(body);
  EXPECT_EQ(d.batch.points().size(), 200u);
  EXPECT_EQ(d.batch.devices().size(), 3u);
  EXPECT_EQ(d.batch.metrics().size(), 2u);
}

TEST(LineProtocol, MetricNameLongerThan200BytesIsRejected) {
  auto d = decode("m,device_id=d " + std::string(199, 'f') + "=1\nm,device_id=d " +
                  std::string(197, 'f') + "=1");
  EXPECT_THAT(d.error_indexes(), ElementsAre(0u));
  EXPECT_THAT(d.first_error(), HasSubstr("longer than 200"));
  EXPECT_EQ(d.batch.points().size(), 1u);
}

// --- Field types -------------------------------------------------------------------------

TEST(LineProtocol, FloatFieldsInEveryNotation) {
  auto d = decode("m,device_id=d a=1,b=-1.5,c=1e3,d=1.5E-2,e=0.000,f=-0,g=3.,h=.5");
  EXPECT_THAT(d.errors, IsEmpty());
  EXPECT_THAT(d.values(), ElementsAre(1, -1.5, 1000, 0.015, 0, 0, 3, 0.5));
}

TEST(LineProtocol, IntegerAndUnsignedFields) {
  auto d = decode(
      "m,device_id=d a=42i,b=-42i,c=0i,d=9223372036854775807i,e=42u,f=18446744073709551615u");
  EXPECT_THAT(d.errors, IsEmpty());
  EXPECT_THAT(d.values(),
              ElementsAre(42, -42, 0, 9223372036854775807.0, 42, 18446744073709551615.0));
}

TEST(LineProtocol, BooleanFieldsInEverySpellingBecomeOneOrZero) {
  auto d = decode("m,device_id=d a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE");
  EXPECT_THAT(d.errors, IsEmpty());
  EXPECT_THAT(d.values(), ElementsAre(1, 1, 1, 1, 1, 0, 0, 0, 0, 0));
}

TEST(LineProtocol, StringFieldsBecomeDeviceAttributesNamedLikeMetrics) {
  auto d =
      decode("status,device_id=d1 state=\"running\",code=3i 1767225600123000000", without_tags());
  EXPECT_THAT(d.points(), ElementsAre(P{"d1", "status.code", kTsMs, 3}));
  ASSERT_EQ(d.batch.attributes().size(), 1u);
  const Attribute& a = d.batch.attributes()[0];
  EXPECT_EQ(a.key, "status.state");
  EXPECT_EQ(a.value, "running");
  EXPECT_EQ(a.ts_ms, kTsMs);
}

TEST(LineProtocol, LineWithOnlyStringFieldsIsAccepted) {
  auto d = decode("info,device_id=d1 fw=\"1.2.3\"", without_tags());
  EXPECT_THAT(d.errors, IsEmpty());
  EXPECT_THAT(d.attributes("d1"), (std::map<std::string, std::string>{{"info.fw", "1.2.3"}}));
}

TEST(LineProtocol, InvalidFieldValuesAreRejectedNamingTheField) {
  for (const char* v :
       {"1.5i", "-1u", "1.5u", "abc", "nan", "inf", "-inf", "NaN", "1e999", "tru", "yes",
        "99999999999999999999i", "18446744073709551616u", "+1", "0x10", "1..2", "--1", "1i2"}) {
    auto d = decode(std::string("m,device_id=d temp=") + v + "\nm,device_id=d ok=1");
    EXPECT_THAT(d.error_indexes(), ElementsAre(0u)) << v;
    EXPECT_THAT(d.first_error(), HasSubstr("temp")) << v << ": " << d.first_error();
    EXPECT_EQ(d.points().size(), 1u) << v;
  }
}

// --- Escaping ----------------------------------------------------------------------------

TEST(LineProtocol, MeasurementEscapesCommasAndSpaces) {
  auto d = decode(R"(my\ meas\,ure,device_id=d x=1)");
  EXPECT_THAT(d.points(), ElementsAre(P{"d", "my meas,ure.x", kNow, 1}));
}

TEST(LineProtocol, TagKeysAndValuesEscapeCommasEqualsAndSpaces) {
  auto d = decode(R"(m,device_id=d,ci\ ty\=x=New\ York\,\ NY\=1 x=1)");
  EXPECT_THAT(d.errors, IsEmpty());
  EXPECT_THAT(d.attributes("d"),
              (std::map<std::string, std::string>{{"tag.ci ty=x", "New York, NY=1"}}));
}

TEST(LineProtocol, EscapedDeviceTagValueIsUnescapedBeforeValidation) {
  auto d = decode(R"(m,device_id=dev\=1 x=1)");
  EXPECT_THAT(d.errors, ElementsAre(testing::Field(&ItemError::index, 0u)));
  auto ok = decode(R"(m,device\_id=a,device_id=dev-1 x=1)");
  EXPECT_THAT(ok.points(), ElementsAre(P{"dev-1", "m.x", kNow, 1}));
}

TEST(LineProtocol, FieldKeysEscapeCommasEqualsAndSpaces) {
  auto d = decode(R"(m,device_id=d fi\,eld\ k\=ey=1,plain=2)");
  EXPECT_THAT(d.points(),
              ElementsAre(P{"d", "m.fi,eld k=ey", kNow, 1}, P{"d", "m.plain", kNow, 2}));
}

TEST(LineProtocol, DoubleBackslashIsOneBackslashAndOtherBackslashesAreLiteral) {
  auto d = decode(R"(C:\temp\\x,device_id=d path\n=1)");
  EXPECT_THAT(d.points(), ElementsAre(P{"d", R"(C:\temp\x.path\n)", kNow, 1}));
}

TEST(LineProtocol, StringFieldsEscapeQuotesAndBackslashesOnly) {
  auto d = decode(R"(m,device_id=d s="say \"hi\", a\\b \n c=d e f",x=1)", without_tags());
  EXPECT_THAT(d.errors, IsEmpty());
  EXPECT_THAT(d.attributes("d"),
              (std::map<std::string, std::string>{{"m.s", R"(say "hi", a\b \n c=d e f)"}}));
  EXPECT_THAT(d.values(), ElementsAre(1));
}

TEST(LineProtocol, EmptyStringFieldIsAValue) {
  auto d = decode(R"(m,device_id=d s="")", without_tags());
  EXPECT_THAT(d.errors, IsEmpty());
  EXPECT_THAT(d.attributes("d"), (std::map<std::string, std::string>{{"m.s", ""}}));
}

TEST(LineProtocol, StringFieldMaySpanLinesAndLineNumbersStayPhysical) {
  auto d =
      decode("m,device_id=d s=\"two\nlines\",x=1 5000000\nbad\nm,device_id=d y=2", without_tags());
  EXPECT_THAT(d.attributes("d"), (std::map<std::string, std::string>{{"m.s", "two\nlines"}}));
  EXPECT_THAT(d.points(), ElementsAre(P{"d", "m.x", 5, 1}, P{"d", "m.y", kNow, 2}));
  EXPECT_THAT(d.batch.unstamped(), ElementsAre(1u)) << "only the line without a timestamp";
  EXPECT_THAT(d.error_indexes(), ElementsAre(2u));  // "bad" is the third physical line
}

TEST(LineProtocol, UnterminatedStringIsAnError) {
  auto d = decode("m,device_id=d s=\"never closed\nm,device_id=d x=1");
  EXPECT_THAT(d.error_indexes(), ElementsAre(0u));
  EXPECT_THAT(d.first_error(), HasSubstr("no closing quote"));
}

// --- Timestamps --------------------------------------------------------------------------

TEST(LineProtocol, TimestampIsNanosecondsByDefault) {
  auto d = decode("m,device_id=d x=1 1767225600123456789");
  EXPECT_EQ(d.points().at(0).ts, kTsMs);
}

TEST(LineProtocol, TimestampFollowsThePrecision) {
  const std::pair<Precision, const char*> cases[] = {
      {Precision::kNanos, "1767225600123000000"},
      {Precision::kMicros, "1767225600123000"},
      {Precision::kMillis, "1767225600123"},
      {Precision::kSeconds, "1767225600"},
  };
  for (const auto& [precision, ts] : cases) {
    LineProtocolOptions o;
    o.precision = precision;
    auto d = decode(std::string("m,device_id=d x=1 ") + ts, o);
    ASSERT_THAT(d.errors, IsEmpty()) << ts;
    EXPECT_EQ(d.points().at(0).ts, precision == Precision::kSeconds ? kNow : kTsMs) << ts;
  }
}

TEST(LineProtocol, LineWithoutTimestampGetsTheReceiveTime) {
  auto d = decode("m,device_id=d x=1\nm,device_id=d x=2   \r\n");
  EXPECT_THAT(d.points(), ElementsAre(P{"d", "m.x", kNow, 1}, P{"d", "m.x", kNow, 2}));
}

TEST(LineProtocol, TimestampsOutside1970To2262AreRejected) {
  LineProtocolOptions seconds;
  seconds.precision = Precision::kSeconds;
  EXPECT_THAT(decode("m,device_id=d x=1 -1").first_error(), HasSubstr("out of range"));
  EXPECT_THAT(decode("m,device_id=d x=1 99999999999999999999").first_error(),
              HasSubstr("out of range"));
  EXPECT_THAT(decode("m,device_id=d x=1 9300000000", seconds).first_error(),
              HasSubstr("out of range"));
  EXPECT_THAT(decode("m,device_id=d x=1 9223372036854775807").errors, IsEmpty());
  EXPECT_THAT(decode("m,device_id=d x=1 0").errors, IsEmpty());
}

TEST(LineProtocol, MalformedTimestampsAreRejected) {
  for (const char* ts : {"1.5", "12abc", "0x10", "1e9"}) {
    auto d = decode(std::string("m,device_id=d x=1 ") + ts);
    EXPECT_THAT(d.first_error(), HasSubstr("not an integer")) << ts;
  }
  EXPECT_THAT(decode("m,device_id=d x=1 1000 extra").first_error(),
              HasSubstr("unexpected text after the timestamp"));
}

// --- Layout: comments, blank lines, whitespace, line endings ------------------------------

TEST(LineProtocol, CommentsBlankLinesAndCrlfAreAcceptedAndCountAsLines) {
  auto d = decode(
      "# a comment\r\n"
      "\r\n"
      "m,device_id=d x=1 1000000\r\n"
      "   \n"
      "  # indented comment\n"
      "  m,device_id=d x=2 2000000\r\n"
      "garbage\r\n"
      "m,device_id=d x=3 3000000");
  EXPECT_THAT(d.points(),
              ElementsAre(P{"d", "m.x", 1, 1}, P{"d", "m.x", 2, 2}, P{"d", "m.x", 3, 3}));
  EXPECT_THAT(d.error_indexes(), ElementsAre(6u));
  EXPECT_EQ(d.lines, 4u);
}

TEST(LineProtocol, EmptyBodyDecodesToNothing) {
  for (const char* body : {"", "\n", "\n\n# only comments\n"}) {
    auto d = decode(body);
    EXPECT_TRUE(d.batch.empty());
    EXPECT_THAT(d.errors, IsEmpty());
    EXPECT_EQ(d.lines, 0u);
  }
}

TEST(LineProtocol, ExtraSpacesBetweenSectionsAreTolerated) {
  auto d = decode("m,device_id=d   x=1    1000000   ");
  EXPECT_THAT(d.points(), ElementsAre(P{"d", "m.x", 1, 1}));
}

TEST(LineProtocol, StructuralErrorsAreReportedPerLine) {
  const std::pair<const char*, const char*> cases[] = {
      {"m,device_id=d", "no fields"},
      {"m,device_id=d ", "no fields"},
      {",device_id=d x=1", "no measurement"},
      {"m,device_id x=1", "tag device_id has no value"},
      {"m,device_id= x=1", "tag device_id has no value"},
      {"m,=v,device_id=d x=1", "empty tag key"},
      {"m,device_id=d x", "field x has no value"},
      {"m,device_id=d x=", "field x has no value"},
      {"m,device_id=d =1", "empty field key"},
      {"m,device_id=d x=1,", "missing field key"},
      {"m,device_id=d x=\"a\"b", "unexpected character after field x"},
      {"m,device_id=d\r x=1", "carriage return"},
  };
  for (const auto& [line, message] : cases) {
    auto d = decode(std::string("m,device_id=d ok=1\n") + line + "\nm,device_id=d ok=2");
    EXPECT_THAT(d.error_indexes(), ElementsAre(1u)) << line;
    EXPECT_THAT(d.first_error(), HasSubstr(message)) << line;
    EXPECT_EQ(d.points().size(), 2u) << line;
  }
}

TEST(LineProtocol, LineWithInvalidUtf8IsRejectedAndOthersKept) {
  auto d = decode("m,device_id=d ok=1\nm,device_id=d,x=\xff\xfe y=1\nm,device_id=d ok=2");
  EXPECT_THAT(d.error_indexes(), ElementsAre(1u));
  EXPECT_THAT(d.first_error(), HasSubstr("UTF-8"));
  EXPECT_EQ(d.points().size(), 2u);
}

TEST(LineProtocol, Utf8NamesAreKept) {
  auto d = decode("température,device_id=d valeur=1");
  EXPECT_THAT(d.points(), ElementsAre(P{"d", "température.valeur", kNow, 1}));
}

// --- Tags as attributes ------------------------------------------------------------------

TEST(LineProtocol, OtherTagsBecomeTagAttributesOncePerDeviceWhileUnchanged) {
  auto d = decode(
      "m,host=a,rack=r1,zone=z x=1\n"
      "m,host=a,rack=r1,zone=z x=2\n"
      "m,host=b,rack=r2,zone=z x=3\n"
      "m,host=a,rack=r1,zone=z x=4\n");
  EXPECT_EQ(d.batch.attributes().size(), 4u);  // a: rack, zone; b: rack, zone
  EXPECT_THAT(d.attributes("a"),
              (std::map<std::string, std::string>{{"tag.rack", "r1"}, {"tag.zone", "z"}}));
  EXPECT_THAT(d.attributes("b"),
              (std::map<std::string, std::string>{{"tag.rack", "r2"}, {"tag.zone", "z"}}));
}

TEST(LineProtocol, ChangedTagsAreEmittedAgain) {
  auto d = decode("m,host=a,rack=r1 x=1 1000000\nm,host=a,rack=r2 x=2 2000000\n");
  ASSERT_EQ(d.batch.attributes().size(), 2u);
  EXPECT_EQ(d.batch.attributes()[1].value, "r2");
  EXPECT_EQ(d.batch.attributes()[1].ts_ms, 2);
}

TEST(LineProtocol, LessPreferredDeviceTagsAreKeptAsTags) {
  auto d = decode("m,host=h1,device_id=d1 x=1");
  EXPECT_THAT(d.attributes("d1"), (std::map<std::string, std::string>{{"tag.host", "h1"}}));
}

TEST(LineProtocol, TagsAreSkippedWhenTagsAsAttributesIsOff) {
  auto d = decode("m,host=a,rack=r1 x=1", without_tags());
  EXPECT_THAT(d.batch.attributes(), IsEmpty());
}

// --- What real clients send ---------------------------------------------------------------

TEST(LineProtocol, TelegrafOutputSample) {
  // As written by Telegraf's influx serializer (cpu, mem, disk, system, net inputs).
  const char* body =
      "cpu,cpu=cpu-total,host=server01 usage_idle=98.5,usage_user=1.0,usage_system=0.5 "
      "1767225600000000000\n"
      "mem,host=server01 available_percent=55.3,used=8392704000i,total=16785408000i "
      "1767225600000000000\n"
      "disk,device=sda1,fstype=ext4,host=server01,mode=rw,path=/ free=1.2e+10,used_percent=41.2 "
      "1767225600000000000\n"
      "system,host=server01 load1=0.12,n_cpus=8i,uptime=86400u,uptime_format=\"1 day,  0:00\" "
      "1767225600000000000\n"
      "net,host=server01,interface=eth0 bytes_recv=123456789i,err_in=0i 1767225600000000000\n";
  auto d = decode(body);
  EXPECT_THAT(d.errors, IsEmpty());
  EXPECT_EQ(d.lines, 5u);
  EXPECT_EQ(d.batch.points().size(), 13u);
  EXPECT_THAT(d.batch.devices(), ElementsAre("server01"));
  EXPECT_EQ(d.points()[0], (P{"server01", "cpu.usage_idle", kNow, 98.5}));
  EXPECT_EQ(d.points()[4], (P{"server01", "mem.used", kNow, 8392704000.0}));
  EXPECT_EQ(d.points()[6], (P{"server01", "disk.free", kNow, 1.2e10}));
  EXPECT_EQ(d.points()[10], (P{"server01", "system.uptime", kNow, 86400}));
  auto attrs = d.attributes("server01");
  EXPECT_EQ(attrs["system.uptime_format"], "1 day,  0:00");
  EXPECT_EQ(attrs["tag.cpu"], "cpu-total");
  EXPECT_EQ(attrs["tag.interface"], "eth0");
  EXPECT_EQ(attrs["tag.path"], "/");
}

TEST(LineProtocol, TsbsTruckReadings) {
  const char* body =
      "readings,name=truck_0,fleet=South,driver=Trish,model=H-2,device_version=v2.3,"
      "load_capacity=1500,fuel_capacity=150,nominal_fuel_consumption=12 "
      "latitude=72.45258,longitude=68.83761,elevation=255,velocity=0,heading=181,grade=0,"
      "fuel_consumption=25 1451606400000000000\n"
      "diagnostics,name=truck_0,fleet=South,driver=Trish,model=H-2,device_version=v2.3,"
      "load_capacity=1500,fuel_capacity=150,nominal_fuel_consumption=12 "
      "fuel_state=0.9,current_load=1500,status=0 1451606400000000000\n";
  auto d = decode(body);
  EXPECT_THAT(d.errors, IsEmpty());
  EXPECT_EQ(d.batch.points().size(), 10u);
  EXPECT_EQ(d.points()[0], (P{"truck_0", "readings.latitude", 1451606400000, 72.45258}));
  EXPECT_EQ(d.points()[9], (P{"truck_0", "diagnostics.status", 1451606400000, 0}));
  EXPECT_EQ(d.batch.attributes().size(), 7u);  // same tag set on both lines: stored once
  EXPECT_EQ(d.attributes("truck_0")["tag.driver"], "Trish");
}

}  // namespace
}  // namespace fp
