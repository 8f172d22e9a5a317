#pragma once
// ApiContext: what the HTTP handlers work with. Built and owned by app/server.cc; every
// reference outlives the HTTP server.

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "auth/api_key_authenticator.h"
#include "auth/device_token_authenticator.h"
#include "http/handlers/data_dir_usage.h"
#include "http/http_types.h"
#include "ingest/ingestor.h"
#include "ingest/write_path.h"
#include "metrics/registry.h"
#include "metrics/server_metrics.h"
#include "model/alert.h"
#include "monitor/device_connections.h"
#include "monitor/device_status_tracker.h"
#include "promql/answer_pump.h"
#include "promql/query_pool.h"
#include "storage/catalog/catalog.h"
#include "storage/tsdb/time_series_store.h"
#include "util/background_jobs.h"
#include "util/clock.h"
#include "util/rate_meter.h"

namespace fp {
class AlertEngine;
class WebhookNotifier;
class LiveEventHub;
class DeviceKpiService;
class DeviceActivityLog;
class FleetHistory;
class SessionStore;
}  // namespace fp

namespace fp::http {

class DiskWorkQueue;

struct ApiContext {
  Catalog& catalog;
  DeviceStatusTracker& tracker;
  Ingestor& ingestor;
  WritePath& writes;  // telemetry, heartbeats, removals: local Ingestor or cluster publish
  tsdb::TimeSeriesStore& store;
  ApiKeyAuthenticator& keys;
  metrics::Registry& registry;
  metrics::ServerMetrics& metrics;
  const Clock& clock;
  std::string data_dir;
  DiskThreshold disk_threshold;  // detailed health: free space below this is critical
  bool auth_enabled = false;
  bool mqtt_enabled = false;
  int64_t started_at_ms = 0;
  std::atomic<bool> ready{false};
  RateMeter ingest_rate;  // heartbeats and points per second
  // Alerting, the live stream and KPIs (set by app/server.cc before the server starts).
  AlertEngine* alerts = nullptr;
  WebhookNotifier* notifier = nullptr;
  LiveEventHub* live = nullptr;
  DeviceKpiService* kpis = nullptr;
  int64_t kpi_history_interval_ms = 60'000;  // history: how often KPI history is sampled
  DeviceActivityLog* activity = nullptr;     // per-device rejections are recorded here

  // Set by app/server.cc when the MQTT endpoint runs (all optional):
  DeviceTokenAuthenticator* device_tokens = nullptr;  // device tokens as HTTP Bearer
  DeviceConnections* connections = nullptr;           // connected / last_connect on devices
  // Called after a device's config changed through the API (pushes it to the device).
  std::function<void(const std::string& device_id, const std::string& config_json)>
      on_config_changed;
  // Stores a command for devices/{id}/commands and sends it to the connections subscribed now
  // (mqtt::MqttServer::push_command): ok with the queue id and how many got it now (0: queued),
  // or kOverloaded when the device's or the whole queue is full.
  struct CommandOutcome {
    Status status;
    int64_t command_id = 0;
    size_t delivered_to = 0;
    int64_t expires_at_ms = 0;
  };
  std::function<CommandOutcome(const std::string& device_id, const std::string& payload)>
      on_command;
  // The "mqtt" component of /api/v1/health/detailed as a JSON object; null when off.
  std::function<std::string()> mqtt_health_json;
  // Streamed exports run here (at most 4 at once); joined before the rest goes.
  BackgroundJobs exports{4};
  // The overview's 24 h history (GET /api/v1/stats/history); null when not kept.
  FleetHistory* fleet_history = nullptr;
  int64_t fleet_history_interval_ms = 60'000;
  // PromQL per-query limits (/prometheus/api/v1): series selected, raw points read.
  size_t promql_max_series = 100'000;
  size_t promql_max_points = 20'000'000;
  // PromQL queries run here (at most 8 at once, inline beyond); joined before the rest goes.
  BackgroundJobs promql_jobs{8};
  SessionStore* sessions = nullptr;    // authsec: dashboard sessions (POST /api/v1/session)
  DiskWorkQueue* disk_work = nullptr;  // slowdisk: writes off the network threads, shed when slow
  // promql3: streamed range answers whose clients stopped reading (16 at most; before the pool).
  promql::AnswerPump promql_answer_pump{16};
  // PromQL queries run on these workers (64 may wait, inline beyond); joined before the rest.
  promql::QueryPool promql_pool{4, 64};
  // Cluster mode (src/cluster; null in single-node mode): GET /api/v1/cluster's body and the
  // "nats" component of /api/v1/health/detailed, as JSON objects.
  std::function<std::string()> cluster_json;
  std::function<std::string()> cluster_health_json;
  // carry: waits (bounded) until an alert changed by an API action is in the cluster's alert
  // bucket, so kill -9 of the owner right after the answer keeps it; null in single-node mode.
  std::function<Status(const Alert&)> alert_durable;
  // carry: the key a forwarded dashboard-session write acts as (cluster/forward_auth.h
  // ForwardedPrincipal); null in single-node mode.
  std::function<std::optional<Principal>(std::string_view authorization, const Request&)>
      forwarded_principal;
};

}  // namespace fp::http
