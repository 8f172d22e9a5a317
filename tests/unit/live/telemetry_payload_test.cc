#include "live/telemetry_payload.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "model/time_format.h"
#include "util/json_writer.h"

namespace fp {
namespace {

struct P {
  std::string metric;
  int64_t ts_ms;
  double value;
};

// The consumer feed's payload as it was built before TelemetryPayloadWriter.
std::string with_json_writer(const std::string& device, const std::vector<P>& points) {
  JsonWriter w;
  w.begin_object().field("device_id", device).key("points").begin_array();
  for (const P& p : points) {
    w.begin_object().field("metric", p.metric);
    w.field("ts", format_rfc3339(p.ts_ms)).field("value", p.value).end_object();
  }
  w.end_array().end_object();
  return w.str();
}

std::string with_payload_writer(TelemetryPayloadWriter& tw, const std::string& device,
                                const std::vector<P>& points) {
  std::string out = "kept before";  // begin() appends after what is there
  tw.begin(out, device);
  for (const P& p : points) tw.add_point(out, p.metric, p.ts_ms, p.value);
  tw.end(out);
  EXPECT_EQ(out.substr(0, 11), "kept before");
  return out.substr(11);
}

TEST(TelemetryPayloadWriter, SpecialValuesAndNamesMatchJsonWriterByteForByte) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<P> points = {
      {"temp", 1700000000123, 21.5},
      {"nan", 1700000000123, nan},
      {"-nan", 1700000000999, -nan},
      {"inf", 1700000001000, inf},
      {"-inf", 1700000001001, -inf},
      {"zero", 0, 0.0},
      {"negzero", -1, -0.0},
      {"denorm", -1000, std::numeric_limits<double>::denorm_min()},
      {"max", -1001, std::numeric_limits<double>::max()},
      {"lowest", -86400000, std::numeric_limits<double>::lowest()},
      {"tiny", 253402300799999, 1e-300},  // 9999-12-31T23:59:59.999Z
      {"big year", 253402300800000, 0.1},
      {"quote\"back\\slash", 951782400000, 1.0 / 3},  // 2000-02-29
      {"ctl\n\r\t\x01\x1f", 951868799999, -2.5e-7},
      {"utf-8 \xc3\xa9\xe2\x82\xac", -62135596800000, 123456789012345678.0},  // year 1
      {"", -62135596800001, 42},                                              // year 0
  };
  TelemetryPayloadWriter tw;
  for (const std::string& device :
       {std::string("dev-1"), std::string("d\"e\\v\x02"), std::string("")}) {
    EXPECT_EQ(with_payload_writer(tw, device, points), with_json_writer(device, points));
    EXPECT_EQ(with_payload_writer(tw, device, {}), with_json_writer(device, {}));
  }
}

TEST(TelemetryPayloadWriter, RandomValuesAndTimestampsMatchJsonWriterByteForByte) {
  std::mt19937_64 rng(16);
  TelemetryPayloadWriter tw;
  for (int batch = 0; batch < 2000; ++batch) {
    std::vector<P> points;
    const int64_t base = static_cast<int64_t>(rng() % 8000000000000ULL) - 1000000000000LL;
    const int n = static_cast<int>(rng() % 20);
    for (int i = 0; i < n; ++i) {
      P p;
      p.metric = "m" + std::to_string(rng() % 7);
      // Mostly within a few seconds of each other (the cached second), sometimes far away.
      p.ts_ms = rng() % 5 ? base + static_cast<int64_t>(rng() % 5000)
                          : static_cast<int64_t>(rng() % 8000000000000ULL) - 1000000000000LL;
      uint64_t bits = rng();
      double v;
      switch (rng() % 4) {
        case 0:  // any bit pattern: NaNs, infinities, subnormals included
          std::memcpy(&v, &bits, sizeof v);
          break;
        case 1:
          v = static_cast<double>(static_cast<int64_t>(bits % 200001) - 100000) / 100;
          break;
        case 2:
          v = std::ldexp(static_cast<double>(bits >> 11), static_cast<int>(rng() % 200) - 150);
          break;
        default:
          v = static_cast<double>(static_cast<int32_t>(bits));
      }
      p.value = v;
      points.push_back(std::move(p));
    }
    const std::string device = "dev-" + std::to_string(batch);
    ASSERT_EQ(with_payload_writer(tw, device, points), with_json_writer(device, points))
        << "batch " << batch;
  }
}

TEST(TelemetryPayloadWriter, EveryTimeOfDayAcrossDayAndYearBoundariesMatchesFormatRfc3339) {
  TelemetryPayloadWriter tw;
  // Two days around the epoch, 1999/2000 (leap year) and year 0/1, at a step that visits every
  // second digit and millisecond digit; forwards then backwards (the cached day changes).
  for (int64_t start : {-86400000LL, 946598400000LL, -62135683200000LL}) {
    for (int dir : {1, -1}) {
      for (int64_t k = 0; k < 2 * 86400; ++k) {
        const int64_t ms = dir > 0 ? start + k * 1001 : start + (2 * 86400 - k) * 1001;
        std::string out;
        tw.append_timestamp(out, ms);
        ASSERT_EQ(out, format_rfc3339(ms)) << ms;
      }
    }
  }
}

TEST(TelemetryPayloadWriter, EscapingMatchesJsonWriterForEveryByte) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  std::string a, b;
  TelemetryPayloadWriter::append_escaped(a, all);
  JsonWriter::append_escaped(b, all);
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace fp
