#include "app/config.h"

#include <toml++/toml.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include "alerting/rule.h"
#include "alerting/webhook_client.h"
#include "model/time_format.h"
#include "mqtt/topic_templates.h"

namespace fp {
namespace {

Status bad(std::string_view option, std::string_view value, std::string_view why) {
  return Status::InvalidArgument("invalid value '" + std::string(value) + "' for " +
                                 std::string(option) + ": " + std::string(why));
}

Status set_duration(int64_t& out, std::string_view name, std::string_view v) {
  auto d = parse_duration_ms(v);
  if (!d || *d <= 0) return bad(name, v, "expected a duration such as 90s, 5m or 1h");
  out = *d;
  return Status::Ok();
}

// A retention: a duration, or 0 / "forever" to keep everything.
Status set_retention(int64_t& out, std::string_view name, std::string_view v) {
  if (v == "0" || v == "forever") {
    out = 0;
    return Status::Ok();
  }
  auto d = parse_duration_ms(v);
  if (!d || *d <= 0) return bad(name, v, "expected a duration such as 30d, or forever");
  out = *d;
  return Status::Ok();
}

Status set_percent(double& out, std::string_view name, std::string_view v) {
  double d;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (ec != std::errc() || p != v.data() + v.size() || d < 0 || d > 100)
    return bad(name, v, "expected a percentage between 0 and 100");
  out = d;
  return Status::Ok();
}

Status set_bool(bool& out, std::string_view name, std::string_view v) {
  if (v == "on" || v == "true" || v == "1" || v == "yes")
    out = true;
  else if (v == "off" || v == "false" || v == "0" || v == "no")
    out = false;
  else
    return bad(name, v, "expected on or off");
  return Status::Ok();
}

template <typename Int>
Status set_int(Int& out, std::string_view name, std::string_view v, Int min, Int max) {
  Int i;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), i);
  if (ec != std::errc() || p != v.data() + v.size() || i < min || i > max)
    return bad(
        name, v,
        "expected a whole number from " + std::to_string(min) + " to " + std::to_string(max));
  out = i;
  return Status::Ok();
}

// A list of topic templates, each with exactly one {device_id} level.
Status set_topics(std::vector<std::string>& out, std::string_view name, std::string_view v) {
  std::vector<std::string> list = mqtt::split_list(v);
  if (list.empty()) return bad(name, v, "expected at least one topic template");
  auto parsed = mqtt::TopicTemplates::parse(list, {});
  if (!parsed.ok()) return bad(name, v, parsed.status().message());
  out = std::move(list);
  return Status::Ok();
}

// "scheme://[user:pass@]HOST:PORT" with one of `schemes`; HOST must be named.
bool is_remote_url(std::string_view url, std::initializer_list<std::string_view> schemes) {
  for (std::string_view scheme : schemes) {
    if (url.substr(0, scheme.size()) != scheme) continue;
    std::string_view rest = url.substr(scheme.size());
    if (size_t at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
    if (rest.empty() || rest.front() == ':' || rest.find('/') != std::string_view::npos)
      return false;
    auto a = parse_listen_address(rest, false);
    return a.ok() && a->port != 0;
  }
  return false;
}

// A node id: 1-64 of [A-Za-z0-9._-], starting with a letter or digit (pod names qualify).
bool is_node_id(std::string_view v) {
  if (v.empty() || v.size() > 64 || !std::isalnum(static_cast<unsigned char>(v.front())))
    return false;
  for (char ch : v)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '_' && ch != '-')
      return false;
  return true;
}

std::vector<OptionSpec> make_options() {
  std::vector<OptionSpec> o;
  o.push_back({"data-dir", "DIR", "where data is stored (default ./data)",
               [](ServerConfig& c, std::string_view v) {
                 if (v.empty()) return bad("data-dir", v, "must not be empty");
                 c.data_dir = std::string(v);
                 return Status::Ok();
               }});
  o.push_back({"http", "HOST:PORT", "HTTP listen address (default 127.0.0.1:8080)",
               [](ServerConfig& c, std::string_view v) {
                 auto a = parse_listen_address(v, false);
                 if (!a.ok()) return bad("http", v, a.status().message());
                 c.http = *a;
                 return Status::Ok();
               }});
  o.push_back({"mqtt", "HOST:PORT|off", "MQTT listen address (default 127.0.0.1:1883)",
               [](ServerConfig& c, std::string_view v) {
                 auto a = parse_listen_address(v, true);
                 if (!a.ok()) return bad("mqtt", v, a.status().message());
                 c.mqtt = *a;
                 return Status::Ok();
               }});
  o.push_back({"mqtt-tls", "HOST:PORT|off", "MQTT over TLS listen address (default off)",
               [](ServerConfig& c, std::string_view v) {
                 auto a = parse_listen_address(v, true);
                 if (!a.ok()) return bad("mqtt-tls", v, a.status().message());
                 c.mqtt_tls = *a;
                 return Status::Ok();
               }});
  o.push_back({"tls-cert", "FILE", "PEM certificate chain for --mqtt-tls and --https",
               [](ServerConfig& c, std::string_view v) {
                 c.tls_cert = std::string(v);
                 return Status::Ok();
               }});
  o.push_back({"tls-key", "FILE", "PEM private key for --mqtt-tls and --https",
               [](ServerConfig& c, std::string_view v) {
                 c.tls_key = std::string(v);
                 return Status::Ok();
               }});
  o.push_back({"https", "HOST:PORT|off",
               "HTTPS listen address for the API and dashboard, with --tls-cert/--tls-key "
               "(reloaded on SIGHUP) (default off)",
               [](ServerConfig& c, std::string_view v) {
                 auto a = parse_listen_address(v, true);
                 if (!a.ok()) return bad("https", v, a.status().message());
                 c.https = *a;
                 return Status::Ok();
               }});
  o.push_back({"cors-origins", "LIST",
               "origins allowed to call the API from a browser, comma-separated, or * "
               "(default none: CORS off)",
               [](ServerConfig& c, std::string_view v) {
                 c.cors_origins = mqtt::split_list(v);
                 for (const auto& origin : c.cors_origins)
                   if (origin != "*" && origin.find("://") == std::string::npos)
                     return bad("cors-origins", v, "expected origins like https://host:port or *");
                 return Status::Ok();
               }});
  o.push_back({"mqtt-telemetry-topics", "LIST",
               "comma-separated telemetry topic templates with {device_id} (default "
               "devices/{device_id}/telemetry,iot/{device_id}/telemetry)",
               [](ServerConfig& c, std::string_view v) {
                 return set_topics(c.mqtt_telemetry_topics, "mqtt-telemetry-topics", v);
               }});
  o.push_back({"mqtt-heartbeat-topics", "LIST",
               "comma-separated heartbeat topic templates (default devices/{device_id}/heartbeat)",
               [](ServerConfig& c, std::string_view v) {
                 return set_topics(c.mqtt_heartbeat_topics, "mqtt-heartbeat-topics", v);
               }});
  o.push_back({"mqtt-max-connections", "N", "most MQTT clients connected at once (default 10000)",
               [](ServerConfig& c, std::string_view v) {
                 return set_int<size_t>(c.mqtt_max_connections, "mqtt-max-connections", v, 1,
                                        1'000'000);
               }});
  o.push_back({"mqtt-max-inflight", "N",
               "messages per MQTT connection awaiting durability before it is no longer read "
               "(default 64)",
               [](ServerConfig& c, std::string_view v) {
                 return set_int(c.mqtt_max_inflight, "mqtt-max-inflight", v, 1, 65535);
               }});
  o.push_back({"mqtt-max-packet-size", "BYTES", "largest MQTT packet accepted (default 1MiB)",
               [](ServerConfig& c, std::string_view v) {
                 auto b = parse_byte_size(v);
                 if (!b || *b < 64 || *b > 268'435'455)
                   return bad("mqtt-max-packet-size", v, "expected a size from 64 to 256MiB");
                 c.mqtt_max_packet_bytes = *b;
                 return Status::Ok();
               }});
  o.push_back({"mqtt-max-buffered", "BYTES",
               "bytes buffered per MQTT connection before it is no longer read (default 2MiB)",
               [](ServerConfig& c, std::string_view v) {
                 auto b = parse_byte_size(v);
                 if (!b || *b < 1024) return bad("mqtt-max-buffered", v, "expected at least 1KiB");
                 c.mqtt_max_buffered_bytes = *b;
                 return Status::Ok();
               }});
  o.push_back({"mqtt-queue-per-device", "N",
               "commands queued for one device until it acknowledges them; more get HTTP 429 "
               "(default 100)",
               [](ServerConfig& c, std::string_view v) {
                 return set_int<int64_t>(c.mqtt_queue_per_device, "mqtt-queue-per-device", v, 1,
                                         1'000'000);
               }});
  o.push_back({"mqtt-queue-total", "N",
               "commands queued for all devices together; more get HTTP 429 (default 100000)",
               [](ServerConfig& c, std::string_view v) {
                 return set_int<int64_t>(c.mqtt_queue_total, "mqtt-queue-total", v, 1, 100'000'000);
               }});
  o.push_back({"mqtt-queue-expiry", "DURATION",
               "how long a queued command waits for its device before it is dropped (default 24h)",
               [](ServerConfig& c, std::string_view v) {
                 return set_duration(c.mqtt_queue_expiry_ms, "mqtt-queue-expiry", v);
               }});
  o.push_back({"mqtt-bridge", "URL[,URL...]",
               "external MQTT brokers to consume from, e.g. mqtt://broker:1883 (default none)",
               [](ServerConfig& c, std::string_view v) {
                 c.mqtt_bridge.clear();
                 for (const auto& url : mqtt::split_list(v)) {
                   if (url.rfind("mqtt://", 0) != 0)
                     return bad("mqtt-bridge", v, "expected mqtt://HOST:PORT URLs");
                   auto a = parse_listen_address(url.substr(7), false);
                   if (!a.ok()) return bad("mqtt-bridge", v, a.status().message());
                   c.mqtt_bridge.push_back(url);
                 }
                 return Status::Ok();
               }});
  o.push_back({"mqtt-bridge-group", "NAME",
               "shared subscription group on the brokers ($share/NAME/...); 'none' for plain "
               "subscriptions (default fleetpulse)",
               [](ServerConfig& c, std::string_view v) {
                 if (v.empty() || v.find_first_of("/+#") != std::string_view::npos)
                   return bad("mqtt-bridge-group", v, "expected a name without / + #");
                 c.mqtt_bridge_group = v == "none" ? "" : std::string(v);
                 return Status::Ok();
               }});
  o.push_back({"mqtt-bridge-client-id", "ID",
               "client id on the brokers; keep it fixed so the broker keeps the session "
               "(default fleetpulse)",
               [](ServerConfig& c, std::string_view v) {
                 if (v.empty() || v.size() > 200)
                   return bad("mqtt-bridge-client-id", v, "expected 1 to 200 characters");
                 c.mqtt_bridge_client_id = std::string(v);
                 return Status::Ok();
               }});
  o.push_back({"mqtt-bridge-username", "NAME", "user name on the brokers",
               [](ServerConfig& c, std::string_view v) {
                 c.mqtt_bridge_username = std::string(v);
                 return Status::Ok();
               }});
  o.push_back({"mqtt-bridge-password", "SECRET", "password on the brokers",
               [](ServerConfig& c, std::string_view v) {
                 c.mqtt_bridge_password = std::string(v);
                 return Status::Ok();
               }});
  o.push_back({"admin-key", "KEY", "seed an admin API key; turns auth on",
               [](ServerConfig& c, std::string_view v) {
                 if (!v.empty() && v.size() < 8)
                   return bad("admin-key", "***", "must be at least 8 characters");
                 c.admin_key = std::string(v);
                 return Status::Ok();
               }});
  o.push_back({"admin-key-file", "FILE",
               "read the admin API key from FILE (a mounted secret); surrounding whitespace is "
               "ignored",
               [](ServerConfig& c, std::string_view v) {
                 std::ifstream f{std::string(v)};
                 if (!f) return bad("admin-key-file", v, "cannot read the file");
                 std::ostringstream text;
                 text << f.rdbuf();
                 std::string key = text.str();
                 const auto first = key.find_first_not_of(" \t\r\n");
                 key = first == std::string::npos
                           ? ""
                           : key.substr(first, key.find_last_not_of(" \t\r\n") - first + 1);
                 if (key.size() < 8)
                   return bad("admin-key-file", v, "the key in it must be at least 8 characters");
                 c.admin_key = std::move(key);
                 return Status::Ok();
               }});
  o.push_back({"auth", "on|off", "require API keys (default: on when a key exists)",
               [](ServerConfig& c, std::string_view v) {
                 if (v == "on")
                   c.auth = AuthMode::kOn;
                 else if (v == "off")
                   c.auth = AuthMode::kOff;
                 else if (v == "auto")
                   c.auth = AuthMode::kAuto;
                 else
                   return bad("auth", v, "expected on or off");
                 return Status::Ok();
               }});
  o.push_back({"fsync", "always|interval|none", "when writes reach the disk (default always)",
               [](ServerConfig& c, std::string_view v) {
                 if (v == "always")
                   c.fsync = FsyncPolicy::kAlways;
                 else if (v == "interval")
                   c.fsync = FsyncPolicy::kInterval;
                 else if (v == "none")
                   c.fsync = FsyncPolicy::kNone;
                 else
                   return bad("fsync", v, "expected always, interval or none");
                 return Status::Ok();
               }});
  o.push_back({"flush-interval", "DURATION",
               "seal recent telemetry into block files at least this often (default 10m)",
               [](ServerConfig& c, std::string_view v) {
                 return set_duration(c.storage.flush_interval_ms, "flush-interval", v);
               }});
  o.push_back({"flush-points", "N",
               "seal recent telemetry once this many points are in memory (default 4000000)",
               [](ServerConfig& c, std::string_view v) {
                 return set_int<uint64_t>(c.storage.flush_points, "flush-points", v, 1000,
                                          1'000'000'000);
               }});
  o.push_back({"seal-after", "DURATION",
               "compact a day of data and build its rollups this long after it ends (default 1h)",
               [](ServerConfig& c, std::string_view v) {
                 return set_duration(c.storage.seal_after_ms, "seal-after", v);
               }});
  o.push_back({"retention-raw", "DURATION|forever",
               "how long raw points are kept (default forever)",
               [](ServerConfig& c, std::string_view v) {
                 return set_retention(c.storage.retention_raw_ms, "retention-raw", v);
               }});
  o.push_back({"retention-1m", "DURATION|forever",
               "how long 1-minute rollups are kept (default forever)",
               [](ServerConfig& c, std::string_view v) {
                 return set_retention(c.storage.retention_1m_ms, "retention-1m", v);
               }});
  o.push_back({"retention-1h", "DURATION|forever",
               "how long 1-hour rollups are kept (default forever)",
               [](ServerConfig& c, std::string_view v) {
                 return set_retention(c.storage.retention_1h_ms, "retention-1h", v);
               }});
  o.push_back({"disk-low-free", "PERCENT|BYTES",
               "health calls the disk critical below min(5% of the volume, 1GiB) free; give a "
               "percentage (5%) or a size (1GiB) to change either bound",
               [](ServerConfig& c, std::string_view v) {
                 if (v.ends_with('%'))
                   return set_percent(c.storage.disk_low_free_percent, "disk-low-free",
                                      v.substr(0, v.size() - 1));
                 auto b = parse_byte_size(v);
                 if (!b) return bad("disk-low-free", v, "expected a percentage or a size");
                 c.storage.disk_low_free_bytes = *b;
                 return Status::Ok();
               }});
  o.push_back({"at-risk-after", "DURATION", "silence after which a device is at risk (default 2m)",
               [](ServerConfig& c, std::string_view v) {
                 return set_duration(c.status.defaults.at_risk_after_ms, "at-risk-after", v);
               }});
  o.push_back({"offline-after", "DURATION", "silence after which a device is offline (default 5m)",
               [](ServerConfig& c, std::string_view v) {
                 return set_duration(c.status.defaults.offline_after_ms, "offline-after", v);
               }});
  o.push_back({"low-battery", "PERCENT",
               "battery level below which a device is at risk (default 20)",
               [](ServerConfig& c, std::string_view v) {
                 return set_percent(c.status.defaults.low_battery_pct, "low-battery", v);
               }});
  o.push_back({"auto-register", "on|off", "register unknown devices when they report (default on)",
               [](ServerConfig& c, std::string_view v) {
                 return set_bool(c.auto_register, "auto-register", v);
               }});
  o.push_back({"max-body-bytes", "BYTES", "largest request body accepted (default 8MiB)",
               [](ServerConfig& c, std::string_view v) {
                 auto b = parse_byte_size(v);
                 if (!b || *b < 1024)
                   return bad("max-body-bytes", v, "expected a size of at least 1KiB, e.g. 8MiB");
                 c.max_body_bytes = *b;
                 return Status::Ok();
               }});
  o.push_back({"threads", "N", "network threads (default: one per core)",
               [](ServerConfig& c, std::string_view v) {
                 return set_int(c.threads, "threads", v, 0, 256);
               }});
  o.push_back({"metrics-device-cap", "N",
               "most devices exported with per-device series in /metrics (default 1000)",
               [](ServerConfig& c, std::string_view v) {
                 return set_int<size_t>(c.metrics_device_cap, "metrics-device-cap", v, 0,
                                        10'000'000);
               }});
  o.push_back({"promql-max-series", "N", "most series one PromQL query may select (default 100000)",
               [](ServerConfig& c, std::string_view v) {
                 return set_int<size_t>(c.promql_max_series, "promql-max-series", v, 1,
                                        100'000'000);
               }});
  o.push_back(
      {"promql-max-points", "N", "most raw points one PromQL query may read (default 20000000)",
       [](ServerConfig& c, std::string_view v) {
         return set_int<size_t>(c.promql_max_points, "promql-max-points", v, 1, 10'000'000'000);
       }});
  o.push_back({"webhook-attempts", "N",
               "attempts per webhook delivery before it becomes a dead letter (default 5)",
               [](ServerConfig& c, std::string_view v) {
                 return set_int(c.webhook_attempts, "webhook-attempts", v, 1, 100);
               }});
  o.push_back({"webhook-backoff", "DURATION",
               "wait before the first webhook retry, doubled after each (default 1s)",
               [](ServerConfig& c, std::string_view v) {
                 return set_duration(c.webhook_backoff_ms, "webhook-backoff", v);
               }});
  o.push_back({"webhook-timeout", "DURATION", "time allowed per webhook attempt (default 5s)",
               [](ServerConfig& c, std::string_view v) {
                 return set_duration(c.webhook_timeout_ms, "webhook-timeout", v);
               }});
  o.push_back({"fleet-history-interval", "DURATION",
               "sample the overview's 24 h history (ingest rate, statuses, alerts) this often "
               "(default 1m)",
               [](ServerConfig& c, std::string_view v) {
                 return set_duration(c.fleet_history_interval_ms, "fleet-history-interval", v);
               }});
  o.push_back({"log-level", "LEVEL", "trace, debug, info, warn or error (default info)",
               [](ServerConfig& c, std::string_view v) {
                 if (v != "trace" && v != "debug" && v != "info" && v != "warn" && v != "error")
                   return bad("log-level", v, "expected trace, debug, info, warn or error");
                 c.log_level = std::string(v);
                 return Status::Ok();
               }});
  o.push_back({"cluster", "URL[,URL...]",
               "run as one node of a cluster on these NATS JetStream servers, e.g. "
               "nats://h1:4222,nats://h2:4222,nats://h3:4222 (docs/cluster.md)",
               [](ServerConfig& c, std::string_view v) {
                 std::vector<std::string> urls = mqtt::split_list(v);
                 for (const auto& url : urls)
                   if (!is_remote_url(url, {"nats://", "tls://"}))
                     return bad("cluster", v, "expected nats://HOST:PORT URLs");
                 c.cluster.nats = std::move(urls);
                 return Status::Ok();
               }});
  o.push_back({"node-id", "NAME",
               "this node's stable name in the cluster, e.g. the pod name (needs --cluster)",
               [](ServerConfig& c, std::string_view v) {
                 if (!is_node_id(v))
                   return bad("node-id", v,
                              "expected 1 to 64 letters, digits, '.', '_' or '-', starting with a "
                              "letter or digit");
                 c.cluster.node_id = std::string(v);
                 return Status::Ok();
               }});
  o.push_back({"advertise", "URL",
               "how other nodes and clients reach this node's HTTP, e.g. "
               "http://fleetpulse-0.fleetpulse:8080 (cluster mode)",
               [](ServerConfig& c, std::string_view v) {
                 if (!is_remote_url(v, {"http://", "https://"}))
                   return bad("advertise", v, "expected http://HOST:PORT or https://HOST:PORT");
                 c.cluster.advertise = std::string(v);
                 return Status::Ok();
               }});
  o.push_back({"partitions", "N",
               "partitions the devices are spread over, fixed when the cluster is first created "
               "(default 16)",
               [](ServerConfig& c, std::string_view v) {
                 return set_int(c.cluster.partitions, "partitions", v, 1, 1024);
               }});
  o.push_back({"replicas", "1|3", "JetStream replicas of the cluster's streams (default 3)",
               [](ServerConfig& c, std::string_view v) {
                 if (v != "1" && v != "3") return bad("replicas", v, "expected 1 or 3");
                 c.cluster.replicas = v == "1" ? 1 : 3;
                 return Status::Ok();
               }});
  // transport: HTTP timeouts and connection caps (docs/security.md).
  o.push_back({"http-header-timeout", "DURATION",
               "close a connection whose request header is not complete this long after its "
               "first byte, or after the connection opened (default 10s)",
               [](ServerConfig& c, std::string_view v) {
                 return set_duration(c.http_header_timeout_ms, "http-header-timeout", v);
               }});
  o.push_back({"http-body-timeout", "DURATION",
               "close a connection whose request body makes no progress for this long "
               "(default 30s)",
               [](ServerConfig& c, std::string_view v) {
                 return set_duration(c.http_body_timeout_ms, "http-body-timeout", v);
               }});
  o.push_back({"http-idle-timeout", "DURATION",
               "close a kept-alive connection that sends no new request for this long "
               "(default 60s)",
               [](ServerConfig& c, std::string_view v) {
                 return set_duration(c.http_idle_timeout_ms, "http-idle-timeout", v);
               }});
  o.push_back({"http-max-connections", "N",
               "most HTTP(S) connections open at once; more are refused with 503 (default "
               "10000; also held to 3/4 of the open-files limit)",
               [](ServerConfig& c, std::string_view v) {
                 return set_int<size_t>(c.http_max_connections, "http-max-connections", v, 1,
                                        10'000'000);
               }});
  o.push_back({"http-max-connections-per-address", "N",
               "most HTTP(S) connections open at once from one client address, 0 for no limit "
               "(default 256; raise it behind a reverse proxy or carrier NAT)",
               [](ServerConfig& c, std::string_view v) {
                 return set_int<size_t>(c.http_max_connections_per_address,
                                        "http-max-connections-per-address", v, 0, 10'000'000);
               }});
  // authsec: dashboard sessions, failed-authentication throttling, webhook address policy.
  o.push_back({"session-idle-timeout", "DURATION",
               "a dashboard session (POST /api/v1/session) unused this long ends (default 1h)",
               [](ServerConfig& c, std::string_view v) {
                 return set_duration(c.session_idle_timeout_ms, "session-idle-timeout", v);
               }});
  o.push_back({"session-lifetime", "DURATION",
               "a dashboard session ends this long after its login, used or not (default 12h)",
               [](ServerConfig& c, std::string_view v) {
                 return set_duration(c.session_lifetime_ms, "session-lifetime", v);
               }});
  o.push_back({"auth-throttle-delay", "DURATION",
               "a failed authentication is answered this late, doubled per further failure from "
               "the same client address; 0 turns throttling off (default 100ms)",
               [](ServerConfig& c, std::string_view v) {
                 if (v == "0" || v == "off") {
                   c.auth_throttle_delay_ms = 0;
                   return Status::Ok();
                 }
                 return set_duration(c.auth_throttle_delay_ms, "auth-throttle-delay", v);
               }});
  o.push_back({"auth-throttle-max-delay", "DURATION",
               "the longest delay of a failed authentication (default 10s)",
               [](ServerConfig& c, std::string_view v) {
                 return set_duration(c.auth_throttle_max_delay_ms, "auth-throttle-max-delay", v);
               }});
  o.push_back({"webhook-allow", "CIDR[,CIDR...]",
               "internal networks webhooks may reach anyway, e.g. 10.1.0.0/16 (default none: "
               "loopback, link-local, private and metadata addresses are refused)",
               [](ServerConfig& c, std::string_view v) {
                 auto nets = parse_cidr_list(v);
                 if (!nets.ok()) return bad("webhook-allow", v, nets.status().message());
                 c.webhook_allow = mqtt::split_list(v);
                 return Status::Ok();
               }});
  o.push_back({"webhook-ca-file", "FILE",
               "PEM CA certificates trusted for https webhooks besides the system store",
               [](ServerConfig& c, std::string_view v) {
                 std::ifstream f{std::string(v)};
                 if (!f) return bad("webhook-ca-file", v, "cannot read the file");
                 c.webhook_ca_file = std::string(v);
                 return Status::Ok();
               }});
  // Cardinality limits (limits branch).
  o.push_back({"max-series-per-device", "N",
               "most series (metrics) one device may have; readings of new ones beyond are "
               "refused with 422 (default 1000, 0: no limit)",
               [](ServerConfig& c, std::string_view v) {
                 return set_int<size_t>(c.max_series_per_device, "max-series-per-device", v, 0,
                                        100'000'000);
               }});
  o.push_back({"max-series", "N",
               "most series the server holds in all; readings of new ones beyond are refused "
               "with 422 (default 1000000, 0: no limit)",
               [](ServerConfig& c, std::string_view v) {
                 return set_int<size_t>(c.max_series, "max-series", v, 0, 4'000'000'000);
               }});
  o.push_back({"max-metric-names-per-request", "N",
               "most distinct metric names in one request or message; readings beyond are "
               "refused with 422 (default 10000, 0: no limit)",
               [](ServerConfig& c, std::string_view v) {
                 return set_int<size_t>(c.max_metric_names_per_request,
                                        "max-metric-names-per-request", v, 0, 100'000'000);
               }});
  o.push_back({"max-registrations-per-minute", "N",
               "most devices registered automatically per minute (bursts up to as many); "
               "reports of new devices beyond get 429 with Retry-After (default 10000, 0: no "
               "limit)",
               [](ServerConfig& c, std::string_view v) {
                 return set_int<size_t>(c.max_registrations_per_minute,
                                        "max-registrations-per-minute", v, 0, 100'000'000);
               }});
  // slowdisk: load shedding when the disk is slow.
  o.push_back({"disk-shed-after", "DURATION",
               "answer 503 + Retry-After to new writes once a write has waited this long for the "
               "disk (default 2s)",
               [](ServerConfig& c, std::string_view v) {
                 return set_duration(c.disk_shed_after_ms, "disk-shed-after", v);
               }});
  o.push_back({"disk-max-in-flight", "N",
               "most writes waiting for the disk at once; beyond: 503 + Retry-After (default 512)",
               [](ServerConfig& c, std::string_view v) {
                 return set_int<size_t>(c.disk_max_in_flight, "disk-max-in-flight", v, 1,
                                        1'000'000);
               }});
  o.push_back({"disk-workers", "N",
               "threads for API writes that wait for the catalog's commit (default 8)",
               [](ServerConfig& c, std::string_view v) {
                 return set_int(c.disk_workers, "disk-workers", v, 1, 256);
               }});
  o.push_back({"disk-answer-within", "DURATION",
               "a write the disk has not committed by then is answered 503 + Retry-After (not "
               "acknowledged; keep it below clients' timeouts; default 8s)",
               [](ServerConfig& c, std::string_view v) {
                 return set_duration(c.disk_answer_within_ms, "disk-answer-within", v);
               }});
  // consumers
  o.push_back(
      {"mqtt-consumer-queue", "BYTES",
       "undelivered messages an MQTT consumer (a read key subscribed to devices/+/telemetry "
       "...) may fall behind by before it is disconnected (default 4MiB)",
       [](ServerConfig& c, std::string_view v) {
         auto b = parse_byte_size(v);
         if (!b || *b < 1024) return bad("mqtt-consumer-queue", v, "expected at least 1KiB");
         c.mqtt_consumer_queue_bytes = *b;
         return Status::Ok();
       }});
  // history (session 4)
  o.push_back({"kpi-history-interval", "DURATION",
               "sample each device's KPIs (availability, response time, messages, errors, "
               "battery) into the KPI history this often (default 1m)",
               [](ServerConfig& c, std::string_view v) {
                 return set_duration(c.kpi_history_interval_ms, "kpi-history-interval", v);
               }});
  // branch cluster: the lease TTL (how long a dead node's partitions wait for a new owner).
  o.push_back({"lease-ttl", "DURATION",
               "partition lease TTL in cluster mode: a dead node's partitions move within it; the "
               "same on every node of a cluster (default 20s, 3s..10m)",
               [](ServerConfig& c, std::string_view v) {
                 int64_t ms = 0;
                 if (Status s = set_duration(ms, "lease-ttl", v); !s.ok()) return s;
                 if (ms < 3'000 || ms > 600'000) return bad("lease-ttl", v, "expected 3s..10m");
                 c.cluster.lease_ttl_ms = ms;
                 return Status::Ok();
               }});
  // mqttdur: distinct attribute keys per device.
  o.push_back({"max-attributes-per-device", "N",
               "most distinct attribute keys (string values, units, line-protocol tags) one "
               "device may have; a request or message that would add more is refused with 422 "
               "(MQTT 5: 0x97) (default 1000, 0: no limit)",
               [](ServerConfig& c, std::string_view v) {
                 return set_int<size_t>(c.max_attributes_per_device, "max-attributes-per-device", v,
                                        0, 100'000'000);
               }});
  return o;
}

std::optional<std::string> node_as_text(const toml::node& n) {
  if (auto s = n.as_string()) return s->get();
  if (auto i = n.as_integer()) return std::to_string(i->get());
  if (auto f = n.as_floating_point()) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, f->get());
    return std::string(buf, r.ptr);
  }
  if (auto b = n.as_boolean()) return std::string(b->get() ? "on" : "off");
  return std::nullopt;
}

Status apply_device_types(ServerConfig& c, const toml::table& types, std::string_view source) {
  for (const auto& [type_name, node] : types) {
    const toml::table* t = node.as_table();
    const std::string type(type_name.str());
    if (!t)
      return Status::InvalidArgument(std::string(source) + ": device_types." + type +
                                     " must be a table");
    StatusThresholds th = c.status.defaults;
    for (const auto& [k, v] : *t) {
      const std::string key(k.str());
      auto text = node_as_text(v);
      if (!text)
        return Status::InvalidArgument(std::string(source) + ": device_types." + type + "." + key +
                                       " has an unsupported type");
      Status s;
      if (key == "at_risk_after")
        s = set_duration(th.at_risk_after_ms, "device_types." + type + ".at_risk_after", *text);
      else if (key == "offline_after")
        s = set_duration(th.offline_after_ms, "device_types." + type + ".offline_after", *text);
      else if (key == "low_battery")
        s = set_percent(th.low_battery_pct, "device_types." + type + ".low_battery", *text);
      else
        s = Status::InvalidArgument(std::string(source) + ": unknown key device_types." + type +
                                    "." + key);
      if (!s.ok()) return s;
    }
    if (th.offline_after_ms < th.at_risk_after_ms)
      return Status::InvalidArgument("device_types." + type +
                                     ": offline_after must not be shorter than at_risk_after");
    c.status.by_type[type] = th;
  }
  return Status::Ok();
}

// The rules a new data directory starts with when the config file names none.
constexpr std::string_view kBuiltinAlertRules[] = {
    R"({"id":"default-temperature-range","name":"temperature out of range","kind":"range",)"
    R"("metric":"temperature","min":-10,"max":50,"severity":"warning"})",
    R"({"id":"default-humidity-range","name":"humidity out of range","kind":"range",)"
    R"("metric":"humidity","min":0,"max":100,"severity":"warning"})",
    // The flat /ingest stack names its temperature temperature_c (docs/compatibility.md).
    R"({"id":"default-temperature-c-range","name":"temperature_c out of range","kind":"range",)"
    R"("metric":"temperature_c","min":-10,"max":50,"severity":"warning"})",
};

// [[alert_rules]]: each table is a rule in the API's shape (durations as strings).
Status apply_alert_rules(ServerConfig& c, const toml::node& node, std::string_view source) {
  const toml::array* rules = node.as_array();
  if (!rules)
    return Status::InvalidArgument(std::string(source) +
                                   ": alert_rules must be an array of tables ([[alert_rules]])");
  c.alert_rules_json.clear();
  for (size_t i = 0; i < rules->size(); ++i) {
    const toml::table* t = (*rules)[i].as_table();
    const std::string where = std::string(source) + ": alert_rules[" + std::to_string(i) + "]";
    if (!t) return Status::InvalidArgument(where + " must be a table");
    std::ostringstream json;
    json << toml::json_formatter{*t};
    auto rule = parse_rule(json.str(), "");
    if (!rule.ok()) return Status::InvalidArgument(where + ": " + rule.status().message());
    if (rule->id.empty()) return Status::InvalidArgument(where + ": id is required");
    c.alert_rules_json.push_back(rule_to_json(*rule));
  }
  return Status::Ok();
}

}  // namespace

const std::vector<OptionSpec>& server_options() {
  static const std::vector<OptionSpec> options = make_options();
  return options;
}

std::string env_name(std::string_view option) {
  std::string s = "FLEETPULSE_";
  for (char c : option)
    s.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return s;
}

std::string toml_key(std::string_view option) {
  std::string s(option);
  for (char& c : s)
    if (c == '-') c = '_';
  return s;
}

Result<ListenAddress> parse_listen_address(std::string_view s, bool allow_off) {
  if (s == "off" || s == "none" || s == "disabled") {
    if (!allow_off) return Status::InvalidArgument("this listener cannot be turned off");
    return ListenAddress{"", 0, false};
  }
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos) return Status::InvalidArgument("expected HOST:PORT");
  std::string host(s.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  std::string_view port_text = s.substr(colon + 1);
  unsigned port;
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || p != port_text.data() + port_text.size() || port > 65535)
    return Status::InvalidArgument("port must be a number from 0 to 65535");
  return ListenAddress{host, static_cast<uint16_t>(port), true};
}

std::optional<size_t> parse_byte_size(std::string_view s) {
  double n;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || n < 0 || !std::isfinite(n)) return std::nullopt;
  std::string_view unit = s.substr(static_cast<size_t>(p - s.data()));
  double mult;
  if (unit.empty() || unit == "B")
    mult = 1;
  else if (unit == "KiB" || unit == "K" || unit == "k")
    mult = 1024;
  else if (unit == "MiB" || unit == "M")
    mult = 1024.0 * 1024;
  else if (unit == "GiB" || unit == "G")
    mult = 1024.0 * 1024 * 1024;
  else if (unit == "KB" || unit == "kB")
    mult = 1000;
  else if (unit == "MB")
    mult = 1e6;
  else if (unit == "GB")
    mult = 1e9;
  else
    return std::nullopt;
  // Beyond 2^62 bytes the value is a typo, and the cast would overflow.
  if (n * mult > 4.6e18) return std::nullopt;
  return static_cast<size_t>(n * mult);
}

Result<ServerConfig> build_server_config(
    const std::map<std::string, std::string, std::less<>>& flags,
    const std::function<std::optional<std::string>(const std::string&)>& getenv,
    const std::optional<std::string>& toml_text, std::string_view toml_source) {
  ServerConfig c;
  for (std::string_view rule : kBuiltinAlertRules) c.alert_rules_json.emplace_back(rule);
  const auto& options = server_options();
  auto find = [&](std::string_view name) -> const OptionSpec* {
    for (const auto& o : options)
      if (o.name == name) return &o;
    return nullptr;
  };

  // Layer 1: the TOML file.
  if (toml_text) {
    toml::table tbl;
    try {
      tbl = toml::parse(*toml_text, toml_source);
    } catch (const toml::parse_error& e) {
      return Status::InvalidArgument(std::string(toml_source) + ": " +
                                     std::string(e.description()) + " at line " +
                                     std::to_string(e.source().begin.line));
    }
    for (const auto& [k, node] : tbl) {
      std::string key(k.str());
      if (key == "device_types") {
        const toml::table* types = node.as_table();
        if (!types)
          return Status::InvalidArgument(std::string(toml_source) +
                                         ": device_types must be a table");
        continue;  // applied after the defaults they inherit from are final
      }
      if (key == "alert_rules") {
        if (Status s = apply_alert_rules(c, node, toml_source); !s.ok()) return s;
        continue;
      }
      std::string flag = key;
      for (char& ch : flag)
        if (ch == '_') ch = '-';
      const OptionSpec* o = find(flag);
      if (!o)
        return Status::InvalidArgument(std::string(toml_source) + ": unknown key '" + key + "'");
      auto text = node_as_text(node);
      if (!text)
        return Status::InvalidArgument(std::string(toml_source) + ": '" + key +
                                       "' has an unsupported type");
      if (Status s = o->apply(c, *text); !s.ok())
        return Status::InvalidArgument(std::string(toml_source) + ": " + s.message());
      c.option_sources[flag] = "config file " + std::string(toml_source);
    }
  }
  // Layer 2: environment. Layer 3: flags.
  for (const auto& o : options) {
    if (auto v = getenv(env_name(o.name))) {
      if (Status s = o.apply(c, *v); !s.ok())
        return Status::InvalidArgument("environment " + env_name(o.name) + ": " + s.message());
      c.option_sources[std::string(o.name)] = "environment " + env_name(o.name);
    }
  }
  for (const auto& [name, value] : flags) {
    const OptionSpec* o = find(name);
    if (!o) return Status::InvalidArgument("unknown option --" + name);
    if (Status s = o->apply(c, value); !s.ok()) return s;
    c.option_sources[name] = "flag --" + name;
  }
  if (c.status.defaults.offline_after_ms < c.status.defaults.at_risk_after_ms)
    return Status::InvalidArgument("offline-after (" +
                                   format_duration(c.status.defaults.offline_after_ms) +
                                   ") must not be shorter than at-risk-after (" +
                                   format_duration(c.status.defaults.at_risk_after_ms) + ")");
  if (c.mqtt_tls.enabled && (c.tls_cert.empty() || c.tls_key.empty()))
    return Status::InvalidArgument("--mqtt-tls needs --tls-cert FILE and --tls-key FILE");
  if (!c.cluster.nats.empty() && c.cluster.node_id.empty())
    return Status::InvalidArgument("--cluster needs --node-id NAME (a stable name per node)");
  if (c.https.enabled && (c.tls_cert.empty() || c.tls_key.empty()))
    return Status::InvalidArgument("--https needs --tls-cert FILE and --tls-key FILE");
  // Per-type thresholds start from the final global ones.
  if (toml_text) {
    toml::table tbl = toml::parse(*toml_text, toml_source);
    if (const toml::table* types = tbl["device_types"].as_table()) {
      if (Status s = apply_device_types(c, *types, toml_source); !s.ok()) return s;
    }
  }
  return c;
}

}  // namespace fp
