// The effective configuration as TOML, for `fleetpulse serve --check-config` and the packaged
// configuration file (see config.h).

#include <charconv>
#include <sstream>

#include "app/config.h"
#include "model/time_format.h"

namespace fp {
namespace {

std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", ch);
          out += buf;
        } else {
          out.push_back(ch);
        }
    }
  }
  return out + "\"";
}

std::string address(const ListenAddress& a) {
  if (!a.enabled) return toml_string("off");
  const bool v6 = a.host.find(':') != std::string::npos;
  return toml_string((v6 ? "[" + a.host + "]" : a.host) + ":" + std::to_string(a.port));
}

std::string list(const std::vector<std::string>& items) {
  std::string joined;
  for (const auto& i : items) joined += (joined.empty() ? "" : ",") + i;
  return toml_string(joined);
}

std::string duration(int64_t ms) {
  return toml_string(format_duration(ms));
}

std::string retention(int64_t ms) {
  return ms == 0 ? toml_string("forever") : duration(ms);
}

std::string number(double d) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

std::string secret(const std::string& s) {
  return s.empty() ? "" : "(set; not shown)";
}

using Printer = std::string (*)(const ServerConfig&);

// One printer per option: the value in TOML form, "" when unset, or "(...)" when it must not
// be shown. An option without a printer here is listed with its source only.
const std::map<std::string_view, Printer>& printers() {
  static const std::map<std::string_view, Printer> p = {
      {"data-dir", [](const ServerConfig& c) { return toml_string(c.data_dir); }},
      {"http", [](const ServerConfig& c) { return address(c.http); }},
      {"mqtt", [](const ServerConfig& c) { return address(c.mqtt); }},
      {"mqtt-tls", [](const ServerConfig& c) { return address(c.mqtt_tls); }},
      {"tls-cert",
       [](const ServerConfig& c) { return c.tls_cert.empty() ? "" : toml_string(c.tls_cert); }},
      {"tls-key",
       [](const ServerConfig& c) { return c.tls_key.empty() ? "" : toml_string(c.tls_key); }},
      {"mqtt-telemetry-topics",
       [](const ServerConfig& c) { return list(c.mqtt_telemetry_topics); }},
      {"mqtt-heartbeat-topics",
       [](const ServerConfig& c) { return list(c.mqtt_heartbeat_topics); }},
      {"mqtt-max-connections",
       [](const ServerConfig& c) { return std::to_string(c.mqtt_max_connections); }},
      {"mqtt-max-inflight",
       [](const ServerConfig& c) { return std::to_string(c.mqtt_max_inflight); }},
      {"mqtt-max-packet-size",
       [](const ServerConfig& c) { return std::to_string(c.mqtt_max_packet_bytes); }},
      {"mqtt-max-buffered",
       [](const ServerConfig& c) { return std::to_string(c.mqtt_max_buffered_bytes); }},
      {"mqtt-bridge",
       [](const ServerConfig& c) { return c.mqtt_bridge.empty() ? "" : list(c.mqtt_bridge); }},
      {"mqtt-bridge-group",
       [](const ServerConfig& c) {
         return toml_string(c.mqtt_bridge_group.empty() ? "none" : c.mqtt_bridge_group);
       }},
      {"mqtt-bridge-client-id",
       [](const ServerConfig& c) { return toml_string(c.mqtt_bridge_client_id); }},
      {"mqtt-bridge-username",
       [](const ServerConfig& c) {
         return c.mqtt_bridge_username.empty() ? "" : toml_string(c.mqtt_bridge_username);
       }},
      {"mqtt-bridge-password",
       [](const ServerConfig& c) { return secret(c.mqtt_bridge_password); }},
      {"mqtt-queue-per-device",
       [](const ServerConfig& c) { return std::to_string(c.mqtt_queue_per_device); }},
      {"mqtt-queue-total",
       [](const ServerConfig& c) { return std::to_string(c.mqtt_queue_total); }},
      {"mqtt-queue-expiry", [](const ServerConfig& c) { return duration(c.mqtt_queue_expiry_ms); }},
      {"https", [](const ServerConfig& c) { return address(c.https); }},
      {"promql-max-series",
       [](const ServerConfig& c) { return std::to_string(c.promql_max_series); }},
      {"promql-max-points",
       [](const ServerConfig& c) { return std::to_string(c.promql_max_points); }},
      {"disk-low-free",  // one option sets either bound; a changed size is the one shown
       [](const ServerConfig& c) {
         if (c.storage.disk_low_free_bytes != (1ull << 30))
           return toml_string(std::to_string(c.storage.disk_low_free_bytes));
         return toml_string(number(c.storage.disk_low_free_percent) + "%");
       }},
      {"cors-origins",
       [](const ServerConfig& c) { return c.cors_origins.empty() ? "" : list(c.cors_origins); }},
      {"admin-key", [](const ServerConfig& c) { return secret(c.admin_key); }},
      {"fleet-history-interval",
       [](const ServerConfig& c) { return duration(c.fleet_history_interval_ms); }},
      {"admin-key-file",
       [](const ServerConfig& c) {
         auto it = c.option_sources.find("admin-key-file");
         return std::string(it == c.option_sources.end() ? "" : "(read; not shown)");
       }},
      {"auth",
       [](const ServerConfig& c) {
         return toml_string(c.auth == AuthMode::kOn    ? "on"
                            : c.auth == AuthMode::kOff ? "off"
                                                       : "auto");
       }},
      {"fsync",
       [](const ServerConfig& c) {
         return toml_string(c.fsync == FsyncPolicy::kAlways     ? "always"
                            : c.fsync == FsyncPolicy::kInterval ? "interval"
                                                                : "none");
       }},
      {"flush-interval",
       [](const ServerConfig& c) { return duration(c.storage.flush_interval_ms); }},
      {"flush-points",
       [](const ServerConfig& c) { return std::to_string(c.storage.flush_points); }},
      {"seal-after", [](const ServerConfig& c) { return duration(c.storage.seal_after_ms); }},
      {"retention-raw",
       [](const ServerConfig& c) { return retention(c.storage.retention_raw_ms); }},
      {"retention-1m", [](const ServerConfig& c) { return retention(c.storage.retention_1m_ms); }},
      {"retention-1h", [](const ServerConfig& c) { return retention(c.storage.retention_1h_ms); }},
      {"at-risk-after",
       [](const ServerConfig& c) { return duration(c.status.defaults.at_risk_after_ms); }},
      {"offline-after",
       [](const ServerConfig& c) { return duration(c.status.defaults.offline_after_ms); }},
      {"low-battery",
       [](const ServerConfig& c) { return number(c.status.defaults.low_battery_pct); }},
      {"auto-register",
       [](const ServerConfig& c) { return std::string(c.auto_register ? "true" : "false"); }},
      {"max-body-bytes", [](const ServerConfig& c) { return std::to_string(c.max_body_bytes); }},
      {"threads", [](const ServerConfig& c) { return std::to_string(c.threads); }},
      {"metrics-device-cap",
       [](const ServerConfig& c) { return std::to_string(c.metrics_device_cap); }},
      {"webhook-attempts",
       [](const ServerConfig& c) { return std::to_string(c.webhook_attempts); }},
      {"webhook-backoff", [](const ServerConfig& c) { return duration(c.webhook_backoff_ms); }},
      {"webhook-timeout", [](const ServerConfig& c) { return duration(c.webhook_timeout_ms); }},
      {"log-level", [](const ServerConfig& c) { return toml_string(c.log_level); }},
      {"cluster",
       [](const ServerConfig& c) { return c.cluster.nats.empty() ? "" : list(c.cluster.nats); }},
      {"node-id",
       [](const ServerConfig& c) {
         return c.cluster.node_id.empty() ? "" : toml_string(c.cluster.node_id);
       }},
      {"advertise",
       [](const ServerConfig& c) {
         return c.cluster.advertise.empty() ? "" : toml_string(c.cluster.advertise);
       }},
      {"partitions", [](const ServerConfig& c) { return std::to_string(c.cluster.partitions); }},
      {"replicas", [](const ServerConfig& c) { return std::to_string(c.cluster.replicas); }},
      // transport
      {"http-header-timeout",
       [](const ServerConfig& c) { return duration(c.http_header_timeout_ms); }},
      {"http-body-timeout", [](const ServerConfig& c) { return duration(c.http_body_timeout_ms); }},
      {"http-idle-timeout", [](const ServerConfig& c) { return duration(c.http_idle_timeout_ms); }},
      {"http-max-connections",
       [](const ServerConfig& c) { return std::to_string(c.http_max_connections); }},
      {"http-max-connections-per-address",
       [](const ServerConfig& c) { return std::to_string(c.http_max_connections_per_address); }},
      // authsec
      {"session-idle-timeout",
       [](const ServerConfig& c) { return duration(c.session_idle_timeout_ms); }},
      {"session-lifetime", [](const ServerConfig& c) { return duration(c.session_lifetime_ms); }},
      {"auth-throttle-delay",
       [](const ServerConfig& c) {
         return c.auth_throttle_delay_ms == 0 ? toml_string("0")
                                              : duration(c.auth_throttle_delay_ms);
       }},
      {"auth-throttle-max-delay",
       [](const ServerConfig& c) { return duration(c.auth_throttle_max_delay_ms); }},
      {"webhook-allow",
       [](const ServerConfig& c) { return c.webhook_allow.empty() ? "" : list(c.webhook_allow); }},
      {"webhook-ca-file",
       [](const ServerConfig& c) {
         return c.webhook_ca_file.empty() ? "" : toml_string(c.webhook_ca_file);
       }},
      // Cardinality limits (limits branch).
      {"max-series-per-device",
       [](const ServerConfig& c) { return std::to_string(c.max_series_per_device); }},
      {"max-series", [](const ServerConfig& c) { return std::to_string(c.max_series); }},
      {"max-metric-names-per-request",
       [](const ServerConfig& c) { return std::to_string(c.max_metric_names_per_request); }},
      {"max-registrations-per-minute",
       [](const ServerConfig& c) { return std::to_string(c.max_registrations_per_minute); }},
      // slowdisk
      {"disk-shed-after", [](const ServerConfig& c) { return duration(c.disk_shed_after_ms); }},
      {"disk-max-in-flight",
       [](const ServerConfig& c) { return std::to_string(c.disk_max_in_flight); }},
      {"disk-workers", [](const ServerConfig& c) { return std::to_string(c.disk_workers); }},
      {"disk-answer-within",
       [](const ServerConfig& c) { return duration(c.disk_answer_within_ms); }},
      {"mqtt-consumer-queue",  // consumers
       [](const ServerConfig& c) { return std::to_string(c.mqtt_consumer_queue_bytes); }},
      // history (session 4)
      {"kpi-history-interval",
       [](const ServerConfig& c) { return duration(c.kpi_history_interval_ms); }},
      {"lease-ttl", [](const ServerConfig& c) { return duration(c.cluster.lease_ttl_ms); }},
      // mqttdur
      {"max-attributes-per-device",
       [](const ServerConfig& c) { return std::to_string(c.max_attributes_per_device); }},
  };
  return p;
}

}  // namespace

std::string effective_config_toml(const ServerConfig& c) {
  std::ostringstream out;
  out << "# fleetpulse serve: effective configuration. Each value comes from (lowest first) the\n"
         "# default, the --config TOML file, FLEETPULSE_<NAME> in the environment, or a flag.\n"
         "# This text is itself a valid --config file (secrets are not shown).\n";
  for (const auto& o : server_options()) {
    const std::string key = toml_key(o.name);
    auto src = c.option_sources.find(o.name);
    const std::string from = src == c.option_sources.end() ? "default" : src->second;
    out << "\n# " << o.help << "\n";
    auto p = printers().find(o.name);
    if (p == printers().end()) {
      out << "# " << key << " = (see --help)  # " << from << "\n";
      continue;
    }
    const std::string value = p->second(c);
    if (value.empty())
      out << "# " << key << " = (not set)\n";
    else if (value.front() == '(')
      out << "# " << key << " = " << value << "  # " << from << "\n";
    else
      out << key << " = " << value << "  # " << from << "\n";
  }
  for (const auto& [type, th] : c.status.by_type) {
    out << "\n[device_types." << type << "]\n"
        << "at_risk_after = " << duration(th.at_risk_after_ms) << "\n"
        << "offline_after = " << duration(th.offline_after_ms) << "\n"
        << "low_battery = " << number(th.low_battery_pct) << "\n";
  }
  out << "\n# alert rules stored on the first start of a new data directory ([[alert_rules]] in\n"
         "# the file, else the built-in defaults), in the API's JSON form:\n";
  for (const auto& rule : c.alert_rules_json) out << "#   " << rule << "\n";
  return out.str();
}

std::vector<std::string> config_warnings(const ServerConfig& c) {
  std::vector<std::string> w;
  auto loopback = [](const ListenAddress& a) {
    return !a.enabled || a.host == "::1" || a.host.rfind("127.", 0) == 0;
  };
  const bool exposed =
      !loopback(c.http) || !loopback(c.https) || !loopback(c.mqtt) || !loopback(c.mqtt_tls);
  if (exposed && c.admin_key.empty() && c.auth != AuthMode::kOff)
    w.push_back(
        "listening beyond loopback without --admin-key: the server starts only if the data "
        "directory already holds API keys, or with --auth off");
  if (c.cluster.nats.empty())
    for (std::string_view name : {"node-id", "advertise", "partitions", "replicas", "lease-ttl"})
      if (c.option_sources.count(name))
        w.push_back("--" + std::string(name) + " has no effect without --cluster");
  return w;
}

}  // namespace fp
