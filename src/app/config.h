#pragma once
// ServerConfig and how it is assembled: defaults, then the TOML file given by --config, then
// FLEETPULSE_<NAME> environment variables, then command-line flags (each layer overrides the
// one before). Every option is declared once in kServerOptions (config.cc), which drives all
// three sources and the --help text.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "monitor/status_policy.h"
#include "storage/wal/wal_writer.h"
#include "util/result.h"

namespace fp {

enum class AuthMode { kAuto, kOn, kOff };  // auto: on exactly when a key is configured

struct ListenAddress {
  std::string host;
  uint16_t port = 0;
  bool enabled = true;
};

// How the telemetry store seals, compacts and expires data (see storage/tsdb).
struct StorageConfig {
  int64_t flush_interval_ms = 10 * 60'000;  // seal the head into blocks at least this often
  uint64_t flush_points = 4'000'000;        // ... or once it holds this many points
  int64_t seal_after_ms = 3'600'000;        // compact a day partition this long after it ends
  int64_t retention_raw_ms = 0;             // 0: keep forever
  int64_t retention_1m_ms = 0;
  int64_t retention_1h_ms = 0;
  // Detailed health calls the disk critical below min(percent of the volume, bytes) free.
  double disk_low_free_percent = 5;
  uint64_t disk_low_free_bytes = 1ull << 30;
};

// Cluster mode (API.md "Cluster"): several nodes on a NATS JetStream cluster. These options
// are parsed and validated; `serve --cluster` runs the node (src/cluster, docs/cluster.md).
struct ClusterConfig {
  std::vector<std::string> nats;  // nats:// or tls:// URLs of the JetStream servers; empty: single
  std::string node_id;            // this node's stable name, e.g. the pod name fleetpulse-0
  std::string advertise;          // how other nodes and clients reach this node's HTTP
  int partitions = 16;            // fixed when the cluster is first created
  int replicas = 3;               // JetStream replicas: 1 or 3
  int64_t lease_ttl_ms = 20'000;  // partition lease TTL (branch cluster); same on every node
};

struct ServerConfig {
  std::string data_dir = "./data";
  ListenAddress http{"127.0.0.1", 8080, true};
  ListenAddress mqtt{"127.0.0.1", 1883, true};
  std::string admin_key;
  AuthMode auth = AuthMode::kAuto;
  FsyncPolicy fsync = FsyncPolicy::kAlways;
  StorageConfig storage;
  StatusPolicy status;
  bool auto_register = true;
  size_t max_body_bytes = 8 * 1024 * 1024;
  int threads = 0;  // 0: one per core
  size_t metrics_device_cap = 1000;
  size_t promql_max_series = 100'000;     // per PromQL query
  size_t promql_max_points = 20'000'000;  // raw points per PromQL query
  std::string log_level = "info";
  // Alerting. Rules stored on the first start: the TOML file's [[alert_rules]] tables, or
  // else the built-in defaults (temperature outside -10..50, humidity outside 0..100). Each
  // entry is a validated rule in JSON form.
  std::vector<std::string> alert_rules_json;
  int webhook_attempts = 5;
  int64_t webhook_backoff_ms = 1000;  // doubled after each failed attempt (capped at 1 min)
  int64_t webhook_timeout_ms = 5000;

  // MQTT (see src/mqtt/README.md).
  ListenAddress mqtt_tls{"", 0, false};
  std::string tls_cert;  // PEM files for --mqtt-tls
  std::string tls_key;
  std::vector<std::string> mqtt_telemetry_topics{"devices/{device_id}/telemetry",
                                                 "iot/{device_id}/telemetry"};
  std::vector<std::string> mqtt_heartbeat_topics{"devices/{device_id}/heartbeat"};
  size_t mqtt_max_connections = 10'000;
  int mqtt_max_inflight = 64;
  size_t mqtt_max_packet_bytes = 1 << 20;
  size_t mqtt_max_buffered_bytes = 2 << 20;
  int64_t mqtt_queue_per_device = 100;  // commands queued per device (sessions branch)
  int64_t mqtt_queue_total = 100'000;
  int64_t mqtt_queue_expiry_ms = 24 * 3600 * 1000;
  std::vector<std::string> mqtt_bridge;          // broker URLs mqtt://host:port
  std::string mqtt_bridge_group = "fleetpulse";  // shared subscription group; empty: none
  std::string mqtt_bridge_client_id = "fleetpulse";
  std::string mqtt_bridge_username;
  std::string mqtt_bridge_password;

  ClusterConfig cluster;

  // Where each option's value came from, by option name ("config file F", "environment
  // FLEETPULSE_X", "flag --x"); options left at their default are absent. For --check-config.
  std::map<std::string, std::string, std::less<>> option_sources;
  int64_t fleet_history_interval_ms = 60'000;  // the overview's history: one sample this often
  // HTTPS (API and dashboard) with tls_cert/tls_key, reloaded on SIGHUP; CORS origins.
  ListenAddress https{"", 0, false};
  std::vector<std::string> cors_origins;  // empty: CORS off; "*": any origin

  // transport: HTTP timeouts and connection caps against slow, idle or greedy clients
  // (docs/security.md).
  int64_t http_header_timeout_ms = 10'000;  // the whole request header
  int64_t http_body_timeout_ms = 30'000;    // longest pause inside a request body
  int64_t http_idle_timeout_ms = 60'000;    // a kept-alive connection between requests
  size_t http_max_connections = 10'000;
  size_t http_max_connections_per_address = 256;  // 0: no per-address cap
  // authsec: dashboard sessions, failed-authentication throttling, where webhooks may go.
  int64_t session_idle_timeout_ms = 3'600'000;   // a session unused this long ends
  int64_t session_lifetime_ms = 12 * 3'600'000;  // ... and ends this long after login anyway
  int64_t auth_throttle_delay_ms = 100;          // first failure's delay, doubled; 0: off
  int64_t auth_throttle_max_delay_ms = 10'000;   // the doubling stops here
  std::vector<std::string> webhook_allow;        // CIDRs webhooks may reach though internal
  std::string webhook_ca_file;                   // extra CA certificates for https webhooks
  // Cardinality limits (limits branch); 0 means no limit. See docs/security.md.
  size_t max_series_per_device = 1'000;
  size_t max_series = 1'000'000;
  size_t max_metric_names_per_request = 10'000;
  size_t max_registrations_per_minute = 10'000;
  // slowdisk: load shedding when the disk is slow (http/disk_work_queue.h).
  int64_t disk_shed_after_ms = 2'000;     // oldest disk request / catalog write older: 503
  size_t disk_max_in_flight = 512;        // disk-needing requests admitted at once
  int disk_workers = 8;                   // threads for handlers that wait for a catalog write
  int64_t disk_answer_within_ms = 8'000;  // admitted writes not committed by then: 503
  // consumers: undelivered messages one MQTT consumer may have queued before it is cut.
  size_t mqtt_consumer_queue_bytes = 4 << 20;
  // history (session 4): KPI history, one sample per device and type this often.
  int64_t kpi_history_interval_ms = 60'000;
  // mqttdur: distinct attribute keys (string values, units, tags) per device; 0: no limit.
  size_t max_attributes_per_device = 1'000;
};

struct OptionSpec {
  std::string_view name;  // flag name without dashes, e.g. "offline-after"
  std::string_view value_hint;
  std::string_view help;
  std::function<Status(ServerConfig&, std::string_view)> apply;
};

// The options of `fleetpulse serve`, in --help order.
const std::vector<OptionSpec>& server_options();

// "data-dir" -> "FLEETPULSE_DATA_DIR"; "data-dir" -> "data_dir" (the TOML key).
std::string env_name(std::string_view option);
std::string toml_key(std::string_view option);

// Builds the configuration from the three layers. `flags` maps option names to the values
// given on the command line; `getenv` looks up environment variables; `toml_text` is the
// content of the --config file, if any (`toml_source` names it in error messages).
// Errors name the option and the layer it came from.
Result<ServerConfig> build_server_config(
    const std::map<std::string, std::string, std::less<>>& flags,
    const std::function<std::optional<std::string>(const std::string&)>& getenv,
    const std::optional<std::string>& toml_text, std::string_view toml_source = "config file");

// The effective configuration as a TOML document that --config accepts back: every option
// with its help as a comment and where its value came from; secrets are shown as set or not,
// never printed. Printed by `fleetpulse serve --check-config`.
std::string effective_config_toml(const ServerConfig& c);

// Things a valid configuration may still trip over at start or in production (e.g. listening
// beyond loopback with no admin key, cluster options without --cluster), one line each.
std::vector<std::string> config_warnings(const ServerConfig& c);

// "host:port", ":port", "[::1]:port", or "off" (only when allow_off).
Result<ListenAddress> parse_listen_address(std::string_view s, bool allow_off);
// "8388608", "8MiB", "512KiB", "1GB".
std::optional<size_t> parse_byte_size(std::string_view s);

}  // namespace fp
