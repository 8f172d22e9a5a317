// The simulator's pieces without a server: fleets and readings are reproducible from a seed,
// values stay in their physical ranges (but for deliberate spikes), batteries drain, vehicles
// move, bodies encode as the telemetry API expects, and --target URLs parse.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <cmath>
#include <set>

#include "simulate/device_model.h"
#include "simulate/http_load_client.h"
#include "simulate/message_json.h"

namespace fp::sim {
namespace {

constexpr int64_t kT0 = 1'767'225'600'000;  // 2026-01-01T00:00:00Z
constexpr int64_t kMinute = 60'000;

TEST(DeviceModel, SameSeedGivesSameFleetAndReadings) {
  Rng a(42), b(42), c(43);
  auto fa = make_fleet(50, "sim", a), fb = make_fleet(50, "sim", b), fc = make_fleet(50, "sim", c);
  ASSERT_EQ(fa.size(), 50u);
  std::vector<std::string> ids_c;
  for (size_t i = 0; i < fa.size(); ++i) {
    EXPECT_EQ(fa[i].id, fb[i].id);
    EXPECT_EQ(fa[i].kind, fb[i].kind);
    ids_c.push_back(fc[i].id);
    for (int step = 0; step < 10; ++step) {
      SimReading ra = sample(fa[i], kT0 + step * kMinute, 0.01, a);
      SimReading rb = sample(fb[i], kT0 + step * kMinute, 0.01, b);
      ASSERT_EQ(ra.values, rb.values);
    }
  }
  std::vector<std::string> ids_a;
  for (const auto& d : fa) ids_a.push_back(d.id);
  EXPECT_NE(ids_a, ids_c);
}

TEST(DeviceModel, FleetHasEveryKindAndUniqueIds) {
  Rng rng(7);
  auto fleet = make_fleet(600, "x", rng);
  std::set<DeviceKind> kinds;
  std::set<std::string> ids;
  for (const auto& d : fleet) {
    kinds.insert(d.kind);
    ids.insert(d.id);
    EXPECT_EQ(d.id.rfind("x-", 0), 0u) << d.id;
  }
  EXPECT_EQ(kinds.size(), static_cast<size_t>(kDeviceKindCount));
  EXPECT_EQ(ids.size(), fleet.size());
}

TEST(DeviceModel, ValuesStayInRangeWithoutSpikesAndLeaveItWithThem) {
  Rng rng(1);
  auto fleet = make_fleet(120, "r", rng);
  for (auto& d : fleet) {
    for (int step = 0; step < 24 * 6; ++step) {  // a day in 10-minute steps
      SimReading r = sample(d, kT0 + step * 10 * kMinute, 0, rng);
      EXPECT_FALSE(r.spiked);
      const auto names = metric_names(d.kind);
      ASSERT_EQ(r.values.size(), names.size()) << to_string(d.kind);
      for (size_t i = 0; i < names.size(); ++i) {
        EXPECT_EQ(r.values[i].first, names[i]);
        const double v = r.values[i].second;
        ASSERT_TRUE(std::isfinite(v)) << names[i];
        if (names[i] == "battery_level" || names[i] == "humidity" || names[i] == "fuel_pct" ||
            names[i] == "storage_used_pct") {
          EXPECT_GE(v, 0) << names[i];
          EXPECT_LE(v, 100) << names[i];
        }
        if (names[i] == "signal_strength") {
          EXPECT_TRUE(v >= -120 && v <= -40) << v;
        }
        if (names[i] == "temperature") {
          EXPECT_TRUE(v > -10 && v < 45) << v;
        }
        if (names[i] == "motion") {
          EXPECT_TRUE(v == 0 || v == 1) << v;
        }
      }
    }
  }
  // With spikes always on, the first value leaves its range.
  SimDevice& t = fleet.front();
  SimReading spiked = sample(t, kT0 + 10'000 * kMinute, 1.0, rng);
  EXPECT_TRUE(spiked.spiked);
  EXPECT_GT(std::fabs(spiked.values.front().second), 140);
}

TEST(DeviceModel, BatteriesDrainAndVehiclesMove) {
  Rng rng(3);
  auto fleet = make_fleet(200, "m", rng);
  bool some_vehicle = false;
  for (auto& d : fleet) {
    const double battery = d.battery;
    const double lat = d.lat, lon = d.lon;
    for (int h = 0; h <= 48; ++h) sample(d, kT0 + 8 * 3'600'000 + h * 3'600'000LL, 0, rng);
    if (d.battery_powered) {
      EXPECT_LT(d.battery, battery) << d.id;
      EXPECT_NEAR(battery - d.battery, std::min(battery, d.drain_pct_per_day * 2), 1e-6) << d.id;
    }
    if (d.kind == DeviceKind::kVehicle) {
      some_vehicle = true;
      EXPECT_TRUE(d.lat != lat || d.lon != lon) << d.id;
      EXPECT_LT(std::hypot(d.lat - d.site->lat, d.lon - d.site->lon), 1.0) << d.id;
    }
  }
  EXPECT_TRUE(some_vehicle);
}

TEST(ReadingsJson, BatchEncodesAsFlatReadingsWithTimestamps) {
  Rng rng(5);
  auto fleet = make_fleet(2, "j", rng);
  std::vector<OutgoingReading> batch;
  batch.push_back({&fleet[0], sample(fleet[0], kT0, 0, rng), false});
  batch.push_back({&fleet[1], sample(fleet[1], kT0 + 1, 0, rng), true});
  const std::string body = encode_readings_json(batch);
  simdjson::dom::parser parser;
  simdjson::dom::array arr;
  ASSERT_EQ(parser.parse(body).get(arr), simdjson::SUCCESS) << body;
  ASSERT_EQ(arr.size(), 2u);
  EXPECT_EQ(std::string_view(arr.at(0)["device_id"].get_string().value()), fleet[0].id);
  EXPECT_EQ(arr.at(0)["ts"].get_int64().value(), kT0);
  EXPECT_EQ(std::string_view(arr.at(1)["ts"].get_string().value()), "not-a-time");
  EXPECT_TRUE(arr.at(0)["signal_strength"].is_number());
}

TEST(ReadingsJson, RejectedIndexesOfA422Answer) {
  auto idx = rejected_indexes(R"({"accepted":3,"rejected":[{"index":1,"error":"x"},{"index":4}]})");
  ASSERT_TRUE(idx);
  EXPECT_EQ(*idx, (std::vector<size_t>{1, 4}));
  EXPECT_FALSE(rejected_indexes("not json"));
  EXPECT_FALSE(rejected_indexes(R"({"rejected":[{"index":-1}]})"));
  EXPECT_FALSE(rejected_indexes("[]"));
}

TEST(HttpTarget, ParsesHostPortAndPrefix) {
  auto t = parse_http_target("http://127.0.0.1:8080");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->port, "8080");
  EXPECT_EQ(t->base_path, "");
  t = parse_http_target("http://fleet.example/api-gw/");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->port, "80");
  EXPECT_EQ(t->base_path, "/api-gw");
  t = parse_http_target("http://[::1]:9000");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->host, "::1");
  for (const char* bad : {"https://x:1", "127.0.0.1:8080", "http://:80", "http://h:0",
                          "http://h:70000", "http://h:8x", ""})
    EXPECT_FALSE(parse_http_target(bad).ok()) << bad;
}

}  // namespace
}  // namespace fp::sim
