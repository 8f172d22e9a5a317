// --check-config's effective configuration and the cluster options (app/config.h).
#include <gtest/gtest.h>

#include <fstream>

#include "app/config.h"

namespace fp {
namespace {

using Flags = std::map<std::string, std::string, std::less<>>;

std::optional<std::string> no_env(const std::string&) {
  return std::nullopt;
}

// The printed text without the "# <source>" tails, which differ between two loads.
std::string without_sources(const std::string& toml) {
  std::string out;
  size_t start = 0;
  while (start < toml.size()) {
    size_t end = toml.find('\n', start);
    if (end == std::string::npos) end = toml.size();
    std::string line = toml.substr(start, end - start);
    if (!line.empty() && line[0] != '#') line = line.substr(0, line.find("  # "));
    out += line + "\n";
    start = end + 1;
  }
  return out;
}

TEST(ConfigPrint, EveryOptionHasAPrintedValue) {
  auto c = build_server_config({}, no_env, std::nullopt);
  ASSERT_TRUE(c.ok()) << c.status().message();
  const std::string text = effective_config_toml(*c);
  for (const auto& o : server_options()) {
    const std::string key = toml_key(o.name);
    EXPECT_TRUE(text.find("\n" + key + " = ") != std::string::npos ||
                text.find("\n# " + key + " = (not set)") != std::string::npos)
        << key << " missing from:\n"
        << text;
  }
  EXPECT_EQ(text.find("(see --help)"), std::string::npos) << text;
}

TEST(ConfigPrint, PrintedConfigLoadsBackToTheSameConfig) {
  Flags flags{{"http", "[::1]:9090"},
              {"mqtt", "off"},
              {"low-battery", "12.5"},
              {"offline-after", "90m"},
              {"retention-raw", "30d"},
              {"mqtt-bridge", "mqtt://broker:1883"},
              {"mqtt-bridge-group", "none"},
              {"data-dir", "/var/lib/with \"quotes\""},
              {"auto-register", "off"},
              {"cluster", "nats://a:4222,nats://b:4222"},
              {"node-id", "fleetpulse-0"},
              {"partitions", "32"},
              {"replicas", "1"}};
  const std::string file = "[device_types.camera]\noffline_after = \"2h\"\n";
  auto first = build_server_config(flags, no_env, file);
  ASSERT_TRUE(first.ok()) << first.status().message();
  const std::string printed = effective_config_toml(*first);
  auto second = build_server_config({}, no_env, printed);
  ASSERT_TRUE(second.ok()) << second.status().message() << "\n" << printed;
  EXPECT_EQ(without_sources(effective_config_toml(*second)), without_sources(printed));
  EXPECT_EQ(second->status.by_type.at("camera").offline_after_ms, 2 * 3'600'000);
  EXPECT_EQ(second->data_dir, "/var/lib/with \"quotes\"");
  EXPECT_FALSE(second->mqtt.enabled);
}

TEST(ConfigPrint, NamesWhereEachValueCameFrom) {
  auto env = [](const std::string& k) -> std::optional<std::string> {
    if (k == "FLEETPULSE_THREADS") return "3";
    return std::nullopt;
  };
  auto c = build_server_config({{"log-level", "debug"}}, env, std::string("fsync = \"none\"\n"),
                               "/etc/f.toml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  const std::string text = effective_config_toml(*c);
  EXPECT_NE(text.find("log_level = \"debug\"  # flag --log-level"), std::string::npos) << text;
  EXPECT_NE(text.find("threads = 3  # environment FLEETPULSE_THREADS"), std::string::npos);
  EXPECT_NE(text.find("fsync = \"none\"  # config file /etc/f.toml"), std::string::npos);
  EXPECT_NE(text.find("webhook_attempts = 5  # default"), std::string::npos);
}

TEST(ConfigPrint, SecretsAreNeverPrinted) {
  auto c = build_server_config(
      {{"admin-key", "super-secret-admin-key"}, {"mqtt-bridge-password", "s3cr3t-bridge-value"}},
      no_env, std::nullopt);
  ASSERT_TRUE(c.ok());
  const std::string text = effective_config_toml(*c);
  EXPECT_EQ(text.find("super-secret-admin-key"), std::string::npos);
  EXPECT_EQ(text.find("s3cr3t-bridge-value"), std::string::npos);
  EXPECT_NE(text.find("# admin_key = (set; not shown)"), std::string::npos);
}

TEST(ConfigPrint, AdminKeyFileIsReadTrimmedAndNotShown) {
  const std::string path = ::testing::TempDir() + "/admin-key-file-test";
  {
    std::ofstream f(path);
    f << "  key-from-a-mounted-secret\n";
  }
  auto c = build_server_config({{"admin-key-file", path}}, no_env, std::nullopt);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->admin_key, "key-from-a-mounted-secret");
  const std::string text = effective_config_toml(*c);
  EXPECT_EQ(text.find("key-from-a-mounted-secret"), std::string::npos);
  EXPECT_NE(text.find("# admin_key_file = (read; not shown)"), std::string::npos) << text;
  auto missing = build_server_config({{"admin-key-file", path + ".absent"}}, no_env, std::nullopt);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("admin-key-file"), std::string::npos);
  {
    std::ofstream f(path);
    f << "short\n";
  }
  EXPECT_FALSE(build_server_config({{"admin-key-file", path}}, no_env, std::nullopt).ok());
}

TEST(ClusterOptions, ValidOptionsAsApiMdWritesThem) {
  auto c = build_server_config({{"cluster", "nats://h1:4222,nats://h2:4222,nats://h3:4222"},
                                {"node-id", "n1"},
                                {"advertise", "http://n1.example:8080"}},
                               no_env, std::nullopt);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->cluster.nats.size(), 3u);
  EXPECT_EQ(c->cluster.node_id, "n1");
  EXPECT_EQ(c->cluster.partitions, 16);
  EXPECT_EQ(c->cluster.replicas, 3);
  auto from_env = build_server_config(
      {},
      [](const std::string& k) -> std::optional<std::string> {
        if (k == "FLEETPULSE_CLUSTER") return "tls://user:pw@nats-0.nats:4222";
        if (k == "FLEETPULSE_NODE_ID") return "fleetpulse-2";
        return std::nullopt;
      },
      std::string("partitions = 64\nreplicas = 1\n"));
  ASSERT_TRUE(from_env.ok()) << from_env.status().message();
  EXPECT_EQ(from_env->cluster.partitions, 64);
  EXPECT_EQ(from_env->cluster.replicas, 1);
}

TEST(ClusterOptions, BadValuesAreRejectedWithTheOptionName) {
  const std::vector<std::pair<std::string, std::string>> bad = {{"cluster", "http://h1:4222"},
                                                                {"cluster", "nats://h1"},
                                                                {"cluster", "nats://:4222"},
                                                                {"node-id", "-n1"},
                                                                {"node-id", "has space"},
                                                                {"node-id", ""},
                                                                {"advertise", "n1:8080"},
                                                                {"advertise", "http://n1"},
                                                                {"partitions", "0"},
                                                                {"partitions", "5000"},
                                                                {"replicas", "2"},
                                                                {"replicas", "three"}};
  for (const auto& [name, value] : bad) {
    auto c = build_server_config({{name, value}, {"node-id", name == "node-id" ? value : "n1"}},
                                 no_env, std::nullopt);
    ASSERT_FALSE(c.ok()) << name << "=" << value;
    EXPECT_NE(c.status().message().find(name), std::string::npos) << c.status().message();
  }
}

TEST(ClusterOptions, ClusterNeedsANodeId) {
  auto c = build_server_config({{"cluster", "nats://h1:4222"}}, no_env, std::nullopt);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("--node-id"), std::string::npos);
}

TEST(ClusterOptions, ClusterOptionsWithoutClusterAreNamedInWarnings) {
  auto c =
      build_server_config({{"cluster", "nats://h1:4222"}, {"node-id", "n1"}, {"lease-ttl", "6s"}},
                          no_env, std::nullopt);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(config_warnings(*c).empty());  // cluster mode runs: nothing to warn about
  EXPECT_EQ(c->cluster.lease_ttl_ms, 6'000);
  EXPECT_FALSE(build_server_config({{"lease-ttl", "1s"}}, no_env, std::nullopt).ok());
  auto single = build_server_config({{"partitions", "8"}}, no_env, std::nullopt);
  ASSERT_TRUE(single.ok());
  ASSERT_EQ(config_warnings(*single).size(), 1u);
  EXPECT_NE(config_warnings(*single)[0].find("no effect without --cluster"), std::string::npos);
}

TEST(ConfigWarnings, ExposedWithoutAKeyIsNamed) {
  auto c = build_server_config({{"http", "0.0.0.0:8080"}}, no_env, std::nullopt);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(config_warnings(*c).size(), 1u);
  auto keyed = build_server_config({{"http", "0.0.0.0:8080"}, {"admin-key", "0123456789"}}, no_env,
                                   std::nullopt);
  ASSERT_TRUE(keyed.ok());
  EXPECT_TRUE(config_warnings(*keyed).empty());
}

}  // namespace
}  // namespace fp
