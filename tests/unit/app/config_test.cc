#include "app/config.h"

#include <gtest/gtest.h>

namespace fp {
namespace {

using Flags = std::map<std::string, std::string, std::less<>>;

auto env_of(std::map<std::string, std::string> m) {
  return [m](const std::string& k) -> std::optional<std::string> {
    auto it = m.find(k);
    return it == m.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

TEST(Config, DefaultsMatchTheApiContract) {
  auto c = build_server_config({}, env_of({}), std::nullopt);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->data_dir, "./data");
  EXPECT_EQ(c->http.host, "127.0.0.1");
  EXPECT_EQ(c->http.port, 8080);
  EXPECT_EQ(c->mqtt.port, 1883);
  EXPECT_EQ(c->status.defaults.at_risk_after_ms, 120'000);
  EXPECT_EQ(c->status.defaults.offline_after_ms, 300'000);
  EXPECT_EQ(c->status.defaults.low_battery_pct, 20.0);
  EXPECT_EQ(c->fsync, FsyncPolicy::kAlways);
  EXPECT_EQ(c->auth, AuthMode::kAuto);
}

TEST(Config, FlagBeatsEnvBeatsFileBeatsDefault) {
  const std::string file =
      "offline_after = \"10m\"\nat_risk_after = \"3m\"\nlow_battery = 30\ndata_dir = \"/f\"\n";
  auto env = env_of({{"FLEETPULSE_OFFLINE_AFTER", "20m"}, {"FLEETPULSE_DATA_DIR", "/e"}});
  Flags flags{{"offline-after", "30m"}};
  auto c = build_server_config(flags, env, file);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->status.defaults.offline_after_ms, 30 * 60'000);  // flag
  EXPECT_EQ(c->data_dir, "/e");                                 // env over file
  EXPECT_EQ(c->status.defaults.at_risk_after_ms, 3 * 60'000);   // file over default
  EXPECT_EQ(c->status.defaults.low_battery_pct, 30.0);          // integer in TOML
  EXPECT_EQ(c->http.port, 8080);                                // default
}

TEST(Config, DeviceTypesInheritFinalGlobalThresholds) {
  const std::string file = "[device_types.camera]\noffline_after = \"1h\"\n";
  auto c = build_server_config({{"at-risk-after", "4m"}}, env_of({}), file);
  ASSERT_TRUE(c.ok()) << c.status().message();
  const auto& cam = c->status.for_type("camera");
  EXPECT_EQ(cam.offline_after_ms, 3'600'000);
  EXPECT_EQ(cam.at_risk_after_ms, 4 * 60'000);
  EXPECT_EQ(&c->status.for_type("other"), &c->status.defaults);
}

TEST(Config, BadValuesNameTheOptionAndTheLayer) {
  auto c = build_server_config({{"offline-after", "banana"}}, env_of({}), std::nullopt);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("offline-after"), std::string::npos);

  c = build_server_config({}, env_of({{"FLEETPULSE_LOW_BATTERY", "120"}}), std::nullopt);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("FLEETPULSE_LOW_BATTERY"), std::string::npos);

  c = build_server_config({}, env_of({}), std::string("no_such_key = 1\n"), "fp.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("fp.toml"), std::string::npos);
  EXPECT_NE(c.status().message().find("no_such_key"), std::string::npos);

  c = build_server_config({}, env_of({}), std::string("this is = = not toml"), "fp.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("line 1"), std::string::npos);
}

TEST(Config, OfflineMustNotBeShorterThanAtRisk) {
  auto c = build_server_config({{"at-risk-after", "10m"}, {"offline-after", "5m"}}, env_of({}),
                               std::nullopt);
  EXPECT_FALSE(c.ok());
}

TEST(Config, ListenAddressesAndOff) {
  auto a = parse_listen_address("0.0.0.0:9000", false);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "0.0.0.0");
  EXPECT_EQ(a->port, 9000);
  EXPECT_EQ(parse_listen_address("[::1]:80", false)->host, "::1");
  EXPECT_EQ(parse_listen_address(":8080", false)->host, "0.0.0.0");
  EXPECT_FALSE(parse_listen_address("off", true)->enabled);
  EXPECT_FALSE(parse_listen_address("off", false).ok());
  EXPECT_FALSE(parse_listen_address("host:99999", false).ok());
  EXPECT_FALSE(parse_listen_address("nohost", false).ok());
}

TEST(Config, ByteSizes) {
  EXPECT_EQ(parse_byte_size("1024"), 1024u);
  EXPECT_EQ(parse_byte_size("8MiB"), 8u * 1024 * 1024);
  EXPECT_EQ(parse_byte_size("1MB"), 1'000'000u);
  EXPECT_FALSE(parse_byte_size("lots"));
  // Found by fuzz_config: a size this large used to overflow size_t (UB).
  EXPECT_FALSE(parse_byte_size(
      "88888888888888888888888888888888888888888888888888888888888888888888888888888888888GiB"));
  EXPECT_FALSE(parse_byte_size("5000000000000000000"));
}

TEST(Config, EnvAndTomlNamesDeriveFromTheFlag) {
  EXPECT_EQ(env_name("at-risk-after"), "FLEETPULSE_AT_RISK_AFTER");
  EXPECT_EQ(toml_key("at-risk-after"), "at_risk_after");
}

TEST(Config, BuiltInAlertRulesUnlessTheFileNamesSome) {
  auto c = build_server_config({}, env_of({}), std::nullopt);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->alert_rules_json.size(), 3u);
  EXPECT_NE(c->alert_rules_json[0].find("\"temperature\""), std::string::npos);
  EXPECT_NE(c->alert_rules_json[1].find("\"humidity\""), std::string::npos);
  EXPECT_NE(c->alert_rules_json[2].find("\"temperature_c\""), std::string::npos);
  c = build_server_config({}, env_of({}),
                          std::string("[[alert_rules]]\nid = \"cold\"\nkind = \"threshold\"\n"
                                      "metric = \"t\"\nop = \"<\"\nthreshold = 0\nfor = \"5m\"\n"));
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->alert_rules_json.size(), 1u);
  EXPECT_NE(c->alert_rules_json[0].find("\"for\":\"5m\""), std::string::npos);
  c = build_server_config({}, env_of({}), std::string("alert_rules = []\n"));
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->alert_rules_json.empty());
}

TEST(Config, BadAlertRulesNameTheRuleAndField) {
  auto c = build_server_config({}, env_of({}),
                               std::string("[[alert_rules]]\nid = \"x\"\nkind = \"range\"\n"
                                           "metric = \"t\"\n"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("alert_rules[0]"), std::string::npos);
  EXPECT_NE(c.status().message().find("min"), std::string::npos);
  EXPECT_FALSE(build_server_config({}, env_of({}), std::string("alert_rules = 3\n")).ok());
}

TEST(Config, WebhookRetryOptions) {
  auto c = build_server_config({{"webhook-attempts", "3"}, {"webhook-backoff", "250ms"}},
                               env_of({{"FLEETPULSE_WEBHOOK_TIMEOUT", "2s"}}), std::nullopt);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->webhook_attempts, 3);
  EXPECT_EQ(c->webhook_backoff_ms, 250);
  EXPECT_EQ(c->webhook_timeout_ms, 2000);
  EXPECT_FALSE(build_server_config({{"webhook-attempts", "0"}}, env_of({}), std::nullopt).ok());
}

}  // namespace
}  // namespace fp
