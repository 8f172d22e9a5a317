#include "app/server.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <thread>
#include <unordered_map>

#include "alerting/alert_engine.h"
#include "alerting/alert_json.h"
#include "alerting/webhook_client.h"
#include "alerting/webhook_notifier.h"
#include "app/data_dir_hygiene.h"
#include "app/device_push_wiring.h"
#include "app/server_metrics_collectors.h"
#include "app/systemd_notify.h"
#include "auth/api_key_authenticator.h"
#include "auth/auth_throttle.h"
#include "auth/session_store.h"
#include "cluster/alert_carry.h"
#include "cluster/cluster_node.h"
#include "cluster/device_apply.h"
#include "cluster/forward_auth.h"
#include "cluster/partition_scope.h"
#include "cluster/read_forwarder.h"
#include "cluster/state_sync.h"
#include "compat/compat_routes.h"
#include "fleet_history/fleet_history_sampler.h"
#include "http/api_dispatcher.h"
#include "http/connection_metrics.h"
#include "http/disk_work_queue.h"
#include "http/handlers/device_delete.h"
#include "http/handlers/routes.h"
#include "http/handlers/stats_json.h"
#include "http/server.h"
#include "ingest/derived_series.h"
#include "ingest/ingestor.h"
#include "ingest/write_path.h"
#include "kpi/commit_activity.h"
#include "kpi/kpi_history.h"
#include "kpi/kpi_service.h"
#include "live/consumer_feed.h"
#include "live/live_event_hub.h"
#include "metrics/server_metrics.h"
#include "model/time_format.h"
#include "monitor/device_connections.h"
#include "monitor/device_status_tracker.h"
#include "mqtt/bridge_client.h"
#include "mqtt/mqtt_server.h"
#include "storage/catalog/catalog.h"
#include "storage/catalog/write_queue.h"
#include "storage/fs/posix_file_system.h"
#include "storage/tsdb/time_series_store.h"
#include "util/json_writer.h"
#include "util/open_files.h"

namespace fp {
namespace {

bool is_loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "::1" || host.rfind("127.", 0) == 0;
}

// The "mqtt" component of /api/v1/health/detailed: the listener and each bridge.
std::string mqtt_health(const mqtt::MqttServer* listener,
                        const std::vector<std::unique_ptr<mqtt::BridgeClient>>& bridges) {
  JsonWriter w;
  w.begin_array();
  bool all_connected = true;
  for (const auto& b : bridges) {
    all_connected = all_connected && b->connected();
    w.begin_object()
        .field("broker", b->options().url)
        .field("connected", b->connected())
        .field("messages", b->messages())
        .end_object();
  }
  w.end_array();
  std::string out = listener ? listener->health_json() : R"({"state":"ok"})";
  if (!bridges.empty()) {
    out.pop_back();  // the closing brace
    out += ",\"bridges\":" + w.take() + "}";
    if (!all_connected) {
      const size_t at = out.find("\"state\":\"ok\"");
      if (at != std::string::npos) out.replace(at, 12, "\"state\":\"degraded\"");
    }
  }
  return out;
}

// Waits for SIGTERM or SIGINT; SIGHUP on the way calls `on_hup` (reloads certificates).
int wait_for_stop_signal(const std::function<void()>& on_hup) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  for (;;) {
    int sig = 0;
    sigwait(&set, &sig);
    if (sig != SIGHUP) return sig;
    on_hup();
  }
}

}  // namespace

int run_server(const ServerConfig& cfg) {
  const Clock& clock = SystemClock::instance();
  const int64_t started = clock.now_ms();
  // transport: every descriptor the hard limit allows (connections are capped below it).
  spdlog::info("event=open_files_limit soft={}", raise_open_files_limit());

  // Auth first: refusing to start must not leave anything half-opened.
  restrict_new_file_permissions();  // what the server creates is its user's only (0700/0600)
  std::error_code ec;
  std::filesystem::create_directories(cfg.data_dir, ec);
  if (auto w = data_dir_permission_warning(cfg.data_dir); !w.empty())
    spdlog::warn("event=data_dir_permissions reason=\"{}\"", w);
  if (ec) {
    spdlog::critical("event=startup_failed reason=\"cannot create data dir {}: {}\"", cfg.data_dir,
                     ec.message());
    return 1;
  }
  // One server per data dir: a second one would corrupt what the first is writing.
  const std::string lock_path = (std::filesystem::path(cfg.data_dir) / "LOCK").string();
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0 || ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    spdlog::critical(
        "event=startup_failed reason=\"data dir {} is in use by another fleetpulse process\"",
        cfg.data_dir);
    return 1;
  }
  for (const std::string& name : remove_stale_temporary_files(cfg.data_dir))
    spdlog::info("event=stale_temporary_file_removed file={}", name);
  auto catalog =
      Catalog::open((std::filesystem::path(cfg.data_dir) / "catalog.db").string(), clock);
  if (!catalog.ok()) {
    spdlog::critical("event=startup_failed reason=\"cannot open catalog: {}\"",
                     catalog.status().message());
    return 1;
  }
  ApiKeyAuthenticator keys(**catalog, clock, cfg.admin_key);
  if (Status s = keys.load(); !s.ok()) {
    spdlog::critical("event=startup_failed reason=\"cannot load API keys: {}\"", s.message());
    return 1;
  }
  DeviceTokenAuthenticator device_tokens(**catalog, clock);
  if (Status s = device_tokens.load(); !s.ok()) {
    spdlog::critical("event=startup_failed reason=\"cannot load device tokens: {}\"", s.message());
    return 1;
  }
  bool auth_enabled = cfg.auth == AuthMode::kOn || (cfg.auth == AuthMode::kAuto && keys.has_keys());
  if (cfg.auth == AuthMode::kOn && !keys.has_keys()) {
    spdlog::critical("event=startup_failed reason=\"--auth on needs a key: give --admin-key KEY\"");
    return 2;
  }
  const bool exposed = !is_loopback(cfg.http.host) ||
                       (cfg.mqtt.enabled && !is_loopback(cfg.mqtt.host)) ||
                       (cfg.mqtt_tls.enabled && !is_loopback(cfg.mqtt_tls.host)) ||
                       (cfg.https.enabled && !is_loopback(cfg.https.host));
  if (!auth_enabled && exposed && cfg.auth != AuthMode::kOff) {
    spdlog::critical(
        "event=startup_failed reason=\"protected mode: refusing to listen on a non-loopback "
        "address without auth; give --admin-key KEY, or --auth off to serve without keys on "
        "purpose\"");
    return 2;
  }

  // Telemetry store: replaying its WAL also tells when each device last reported, which
  // may be newer than the catalog's copy (written every few seconds).
  std::unordered_map<std::string, int64_t> replay_seen;
  tsdb::StoreOptions store_options;
  store_options.dir = (std::filesystem::path(cfg.data_dir) / "tsdb").string();
  store_options.fsync = cfg.fsync;
  store_options.flush_interval_ms = cfg.storage.flush_interval_ms;
  store_options.flush_points = cfg.storage.flush_points;
  store_options.seal_after_ms = cfg.storage.seal_after_ms;
  store_options.retention_raw_ms = cfg.storage.retention_raw_ms;
  store_options.retention_minute_ms = cfg.storage.retention_1m_ms;
  store_options.retention_hour_ms = cfg.storage.retention_1h_ms;
  tsdb::RecoveryReport recovery;
  auto store = tsdb::TimeSeriesStore::open(
      PosixFileSystem::instance(), store_options, {}, &recovery,
      [&replay_seen](const std::optional<std::string>& device) {
        if (device)
          replay_seen.erase(*device);
        else
          replay_seen.clear();
      },
      [&replay_seen](std::string_view device, int64_t received_ms) {
        if (is_internal_series_key(device)) return;  // KPI history, not a device
        int64_t& seen = replay_seen[std::string(device)];
        seen = std::max(seen, received_ms);
      });
  if (!store.ok()) {
    spdlog::critical("event=startup_failed reason=\"cannot open the telemetry store: {}\"",
                     store.status().message());
    return 1;
  }
  if (!recovery.truncation.empty())
    spdlog::warn("event=wal_tail_cut bytes={} detail=\"{}\"", recovery.truncated_bytes,
                 recovery.truncation);
  if (!recovery.block_errors.empty())
    spdlog::error("event=blocks_unreadable detail=\"{}\"", recovery.block_errors);
  spdlog::info(
      "event=recovered blocks={} blocks_removed={} wal_records={} points={} series={} millis={}",
      recovery.blocks, recovery.blocks_removed, recovery.records, recovery.points,
      (*store)->series(), recovery.millis);

  DeviceStatusTracker tracker(cfg.status, clock);
  IngestorOptions ingest_options{cfg.auto_register, 200'000};
  ingest_options.limits = {cfg.max_series_per_device, cfg.max_series,
                           cfg.max_metric_names_per_request, cfg.max_registrations_per_minute,
                           cfg.max_attributes_per_device};  // mqttdur: attribute keys
  Ingestor ingestor(**catalog, tracker, store->get(), clock, ingest_options);

  metrics::Registry registry;
  metrics::ServerMetrics server_metrics(registry);
  // authsec: failed-authentication throttle (HTTP and MQTT), dashboard sessions (in memory: a
  // restart logs the dashboard out), where webhooks may go.
  auto& auth_failures = registry.counter(
      "fleetpulse_auth_failures_total",
      "Credentials presented and refused (API keys, device tokens, MQTT passwords), by transport.",
      {"transport"});
  for (const char* t : {"http", "mqtt"}) auth_failures.with({t});
  auto& auth_throttled = registry.counter(
      "fleetpulse_auth_throttled_total",
      "Failed authentications answered late (delayed) or attempts refused unchecked while an "
      "address had too many waiting (refused), by transport.",
      {"transport", "action"});
  AuthThrottle auth_throttle({std::chrono::milliseconds(cfg.auth_throttle_delay_ms),
                              std::chrono::milliseconds(cfg.auth_throttle_max_delay_ms)},
                             auth_failures, auth_throttled);
  keys.set_throttle(&auth_throttle);
  SessionStore sessions(keys, clock, {cfg.session_idle_timeout_ms, cfg.session_lifetime_ms});
  keys.add_change_listener(
      [&sessions](const std::string& key_id) { sessions.end_for_key(key_id); });
  std::string webhook_allow;
  for (const auto& cidr : cfg.webhook_allow) webhook_allow += cidr + ",";
  set_webhook_policy({parse_cidr_list(webhook_allow).value(), cfg.webhook_ca_file});
  ingestor.set_transition_listener([&server_metrics](const std::vector<StatusTransition>& ts) {
    for (const auto& t : ts) {
      server_metrics.status_transitions.with({std::string(to_string(t.to))}).inc();
      if (ts.size() <= 20)
        spdlog::info("event=status_change device={} from={} to={} reason=\"{}\"", t.device_id,
                     to_string(t.from), to_string(t.to), t.reason);
    }
    if (ts.size() > 20) spdlog::info("event=status_changes count={}", ts.size());
  });

  if (!http::finish_device_deletes(cfg.data_dir, **catalog, **store, replay_seen).ok()) return 1;
  // Load the registry; devices that went quiet while the server was down change status now.
  auto devices = (*catalog)->load_all_devices();
  if (!devices.ok()) {
    spdlog::critical("event=startup_failed reason=\"cannot load devices: {}\"",
                     devices.status().message());
    return 1;
  }
  std::vector<StatusTransition> initial;
  for (Device& d : *devices) {
    if (auto it = replay_seen.find(d.device_id); it != replay_seen.end()) {
      d.last_seen_ms = std::max(d.last_seen_ms.value_or(0), it->second);
      replay_seen.erase(it);
    }
    if (auto t = tracker.add(d)) initial.push_back(std::move(*t));
  }
  *devices = {};  // devices (issue 16): not kept for the server's life (~300 B per device)
  // Devices known only from the WAL: registered by telemetry just before a crash.
  std::vector<Device> from_wal;
  for (const auto& [id, seen] : replay_seen) {
    if (!cfg.auto_register) break;
    Device d;
    d.device_id = id;
    d.created_at_ms = d.updated_at_ms = seen;
    from_wal.push_back(d);
    d.last_seen_ms = seen;
    if (auto t = tracker.add(d)) initial.push_back(std::move(*t));
  }
  // Persisted before /ready says yes, so that status filters agree with the devices at once.
  if (Status s = (*catalog)->apply_reports(from_wal, {}, initial); !s.ok()) {
    spdlog::critical("event=startup_failed reason=\"cannot record recovered state: {}\"",
                     s.message());
    return 1;
  }
  for (const auto& t : initial)
    server_metrics.status_transitions.with({std::string(to_string(t.to))}).inc();
  if (!initial.empty()) spdlog::info("event=status_changes_while_down count={}", initial.size());

  // Alerting: rules and open alerts from the catalog, evaluated on the engine's thread from
  // what each commit made durable; changes go to the webhooks and the live stream.
  std::vector<Rule> default_rules;
  for (const std::string& json : cfg.alert_rules_json)
    if (auto r = parse_rule(json, ""); r.ok()) default_rules.push_back(std::move(*r));
  AlertEngineOptions alert_options;
  alert_options.low_battery_pct = cfg.status.defaults.low_battery_pct;
  Catalog& cat = **catalog;
  // Cluster mode: open alerts kept in the cluster's alert bucket (cluster/alert_carry.h); set
  // once the node joined, declared before the engine so it outlives the engine's listeners.
  std::unique_ptr<cluster::AlertCarry> alert_carry;
  std::atomic<cluster::AlertCarry*> carry_sink{nullptr};
  AlertEngine alerts(
      cat, clock,
      [&cat](const std::string& id) -> std::optional<DeviceFacts> {
        auto d = cat.get_device(id);
        if (!d.ok()) return std::nullopt;
        return DeviceFacts{d->type, d->location};
      },
      alert_options);
  // Webhook deliveries are stored with their alert change (catalog webhook_queue) and those
  // pending at the last stop or crash are resumed.
  NotifierOptions notifier_options;
  notifier_options.max_attempts = cfg.webhook_attempts;
  notifier_options.backoff = std::chrono::milliseconds(cfg.webhook_backoff_ms);
  notifier_options.timeout = std::chrono::milliseconds(cfg.webhook_timeout_ms);
  WebhookNotifier notifier(cat, clock, notifier_options);
  if (Status s = notifier.restore(); !s.ok()) {
    spdlog::critical("event=startup_failed reason=\"cannot load the webhook queue: {}\"",
                     s.message());
    return 1;
  }
  alerts.set_outbox(&notifier);
  // Absence rules watch every device in scope from its last report, also across restarts.
  alerts.set_device_source(
      [&cat, &tracker]() {
        std::vector<KnownDevice> out;
        auto all = cat.load_all_devices();
        if (!all.ok()) return out;
        for (const Device& d : *all) {
          const auto live = tracker.get(d.device_id);
          out.push_back({d.device_id,
                         {d.type, d.location},
                         live && live->last_seen_ms ? live->last_seen_ms : d.last_seen_ms});
        }
        return out;
      },
      [st = store->get()](const std::string& device,
                          const std::string& metric) -> std::optional<int64_t> {
        const auto id = st->index().find(device, metric);
        if (!id) return std::nullopt;
        const auto latest = st->latest(*id);
        if (!latest) return std::nullopt;
        return latest->ts;
      });
  if (Status s = alerts.load(default_rules); !s.ok()) {
    spdlog::critical("event=startup_failed reason=\"cannot load alert rules: {}\"", s.message());
    return 1;
  }
  LiveEventHub live;
  alerts.add_listener([&carry_sink](const AlertChange& c) {
    if (auto* k = carry_sink.load()) k->Record(c.alert);
  });
  alerts.add_listener(
      [&live](const AlertChange& c) { live.publish("alert", alert_to_json(c.alert)); });
  // consumers: MQTT consumers get what became durable (fleet/alerts after the alert is stored).
  ConsumerFeed consumer_feed({cfg.mqtt_consumer_queue_bytes});
  consumer_feed.start();
  alerts.add_listener([&consumer_feed](const AlertChange& c) {
    consumer_feed.publish_alert(alert_to_json(c.alert));
  });
  // KPI activity: journaled in <data-dir>/kpi before each commit's reports are answered.
  DeviceActivityLog activity;
  if (Status s = activity.open(PosixFileSystem::instance(),
                               (std::filesystem::path(cfg.data_dir) / "kpi").string());
      !s.ok()) {
    spdlog::critical("event=startup_failed reason=\"cannot open the KPI journal: {}\"",
                     s.message());
    return 1;
  }
  registry.add_collector([&activity](metrics::ExpositionWriter& w) {  // durable: KPI journal
    const ActivityJournalStats js = activity.journal_damage();
    w.header("fleetpulse_kpi_journal_damaged_bytes",
             "Bytes of the KPI activity journal skipped as damaged at start (journal kept in "
             "kpi/quarantine).",
             metrics::Kind::kGauge);
    w.sample("fleetpulse_kpi_journal_damaged_bytes", {}, {}, static_cast<double>(js.damaged_bytes));
  });
  ingestor.set_ack_barrier([&activity](const CommitEvent& e) { record_commit(activity, e); });
  ingestor.add_commit_listener([&alerts, &live](const CommitEvent& e) {
    CommittedWork work;
    for (const auto& t : e.telemetry) {
      work.batches.push_back(t.batch);
      work.received_ms.push_back(t.received_ms);
      live.publish_telemetry(*t.batch);
    }
    for (const HeartbeatReport* h : e.heartbeats)
      work.heartbeats.push_back({h->device_id, h->battery_level, h->received_ms});
    for (const StatusTransition& t : e.transitions) live.publish_status(t);
    work.transitions.assign(e.transitions.begin(), e.transitions.end());
    alerts.submit(std::move(work));
  });
  // consumers: telemetry, heartbeats and status changes after each commit, in commit order.
  ingestor.add_commit_listener([&consumer_feed](const CommitEvent& e) {
    for (const auto& t : e.telemetry) consumer_feed.publish_telemetry(t.batch);
    for (const HeartbeatReport* h : e.heartbeats)
      consumer_feed.publish_heartbeat({h->device_id, h->received_ms, h->device_ts_ms,
                                       h->battery_level, h->signal_strength, h->location});
    for (const StatusTransition& t : e.transitions) consumer_feed.publish_status(t);
  });
  alerts.start();
  notifier.start();
  if (!initial.empty()) alerts.submit({{}, {}, initial});
  ingestor.start();
  // The write path (the one fork, ingest/write_path.h): single node = the local Ingestor.
  LocalWritePath local_writes(ingestor, [&catalog, &tracker, &ingestor](const auto& c) {
    return cluster::ApplyDeviceChange(**catalog, tracker, ingestor, c,
                                      cluster::DeviceApplyMode::kStrict)
        .status();
  });
  WritePath* writes = &local_writes;
  // Cluster mode (docs/cluster.md): writes go to JetStream; this node applies its partitions.
  std::unique_ptr<cluster::PartitionScope> partition_scope;  // outlives cluster_node
  std::unique_ptr<cluster::ClusterNode> cluster_node;
  std::unique_ptr<cluster::StateSync> state_sync;
  if (!cfg.cluster.nats.empty()) {
    cluster::ClusterNodeOptions co;
    co.nats = cfg.cluster.nats;
    co.node_id = cfg.cluster.node_id;
    co.advertise = !cfg.cluster.advertise.empty()
                       ? cfg.cluster.advertise
                       : "http://" + cfg.http.host + ":" + std::to_string(cfg.http.port);
    co.partitions = static_cast<uint32_t>(cfg.cluster.partitions);
    co.replicas = cfg.cluster.replicas;
    co.data_dir = cfg.data_dir;
    co.stream_max_age_ms = cfg.storage.retention_raw_ms;
    co.lease_ttl_ms = cfg.cluster.lease_ttl_ms;
    co.connect_for_ms = cfg.cluster.lease_ttl_ms;  // retry an unreachable NATS this long
    co.apply_device = [&catalog, &tracker, &ingestor](const auto& c) {  // branch devices
      return cluster::ApplyDeviceChange(**catalog, tracker, ingestor, c,
                                        cluster::DeviceApplyMode::kIdempotent)
          .status();
    };
    // Status deadlines (and offline alerts) only for the partitions this node serves.
    partition_scope = std::make_unique<cluster::PartitionScope>(
        **catalog, tracker,
        [&alerts](auto t) {
          alerts.submit({{}, {}, std::move(t)});
        },
        co.partitions);
    // Gained partitions: their open alerts first (adopted from the alert bucket, so they are
    // not raised again), then their devices' status deadlines.
    std::promise<cluster::AlertCarry*> carry_started;
    co.on_ownership_change = [s = partition_scope.get(), &alerts,
                              carry = carry_started.get_future().share()](const auto& g,
                                                                          const auto& l) {
      if (auto* k = carry.get()) k->OnOwnershipChange(alerts, g, l);
      s->Apply(g, l);
    };
    auto node = cluster::ClusterNode::Start(co, ingestor);
    if (!node.ok()) {
      carry_started.set_value(nullptr);
      spdlog::critical("event=startup_failed reason=\"{}\"", node.status().message());
      ingestor.stop();
      return 1;
    }
    cluster_node = std::move(*node);
    auto carry = cluster::AlertCarry::Start({co.nats, co.replicas, co.partitions});
    if (!carry.ok()) {
      carry_started.set_value(nullptr);
      spdlog::critical("event=startup_failed reason=\"{}\"", carry.status().message());
      cluster_node->Stop();
      ingestor.stop();
      return 1;
    }
    alert_carry = std::move(*carry);
    alert_carry->set_serves([n = cluster_node.get()](auto d) { return n->serves_device(d); });
    carry_sink = alert_carry.get();
    alerts.set_id_allocator([k = alert_carry.get()](const std::string& d, int64_t now) {
      return k->NewAlertId(d, now);
    });
    carry_started.set_value(alert_carry.get());
    tracker.set_owner_filter(
        [n = cluster_node.get()](const auto& d) { return n->serves_device(d); });
    writes = &cluster_node->write_path();
    alerts.set_owner_filter(
        [n = cluster_node.get()](const auto& d) { return n->serves_device(d); });
    // Rules, API keys and device tokens are cluster-wide: a KV bucket (cluster/state_sync.h).
    auto sync = cluster::StateSync::Start({cfg.cluster.nats, cfg.cluster.replicas},
                                          {**catalog, keys, &device_tokens, &alerts});
    if (!sync.ok()) {
      spdlog::critical("event=startup_failed reason=\"{}\"", sync.status().message());
      ingestor.stop();
      return 1;
    }
    state_sync = std::move(*sync);
    registry.add_collector(
        [n = cluster_node.get()](metrics::ExpositionWriter& w) { n->WriteMetrics(w); });
  }

  http::ApiContext ctx{**catalog, tracker,  ingestor,       *writes, **store,
                       keys,      registry, server_metrics, clock,   cfg.data_dir};
  ctx.auth_enabled = auth_enabled;
  ctx.sessions = &sessions;
  ctx.disk_threshold = {cfg.storage.disk_low_free_percent, cfg.storage.disk_low_free_bytes};
  ctx.mqtt_enabled = cfg.mqtt.enabled || cfg.mqtt_tls.enabled;
  if (cluster_node) {
    ctx.cluster_json = [n = cluster_node.get()] { return n->ClusterJson(); };
    ctx.cluster_health_json = [n = cluster_node.get()] { return n->HealthJson(); };
    ctx.alert_durable = [k = alert_carry.get()](const Alert& a) {
      return k->WaitWritten(a, 5'000);
    };
    ctx.forwarded_principal = [&keys, secret = state_sync->forward_secret()](
                                  std::string_view authorization, const http::Request& req) {
      return cluster::ForwardedPrincipal(secret, keys, authorization, req);
    };
  }
  DeviceConnections device_connections;
  ctx.device_tokens = &device_tokens;
  ctx.connections = &device_connections;
  device_connections.add_removal_listener(  // hostile: a deleted device's attribute keys go
      [&ingestor](const std::string& id) { ingestor.limits().forget_device(id); });
  ctx.started_at_ms = started;
  ctx.promql_max_series = cfg.promql_max_series;
  ctx.promql_max_points = cfg.promql_max_points;
  // slowdisk: writes leave the network threads; shed with 503 when the disk is behind.
  CatalogWriteQueue* catalog_queue = cat.write_queue();
  http::DiskWorkQueue disk_work({.threads = cfg.disk_workers,
                                 .max_in_flight = cfg.disk_max_in_flight,
                                 .shed_after_ms = cfg.disk_shed_after_ms,
                                 .answer_within_ms = cfg.disk_answer_within_ms,
                                 .catalog_backlog_ms = [catalog_queue]() -> int64_t {
                                   return catalog_queue ? catalog_queue->stats().oldest_age_ms : 0;
                                 }});
  ctx.disk_work = &disk_work;
  ctx.alerts = &alerts;
  ctx.notifier = &notifier;
  ctx.live = &live;
  // Revoking a key or changing its role ends the SSE streams opened with it.
  keys.add_change_listener(
      [&live](const std::string& key_id) { live.disconnect_principal(key_id); });
  ctx.activity = &activity;
  DeviceKpiService kpis(cat, tracker, activity, clock);
  ctx.kpis = &kpis;
  // The overview's 24 h history: its own file in the data dir (see src/fleet_history).
  auto fleet_history =
      FleetHistory::open((std::filesystem::path(cfg.data_dir) / "fleet_history.log").string(),
                         86'400'000, clock.now_ms());
  if (!fleet_history.ok()) {
    spdlog::critical("event=startup_failed reason=\"cannot open the fleet history: {}\"",
                     fleet_history.status().message());
    ingestor.stop();
    return 1;
  }
  ctx.fleet_history = fleet_history->get();
  ctx.fleet_history_interval_ms = cfg.fleet_history_interval_ms;
  uint64_t ingested_before = 0;
  int64_t measured_at = 0;
  FleetHistorySampler fleet_sampler(
      **fleet_history, clock, cfg.fleet_history_interval_ms,
      [&ctx, &tracker, &ingestor, &alerts, &ingested_before, &measured_at](int64_t now) {
        const auto st = ingestor.stats();
        const uint64_t ingested = st.heartbeats + st.points;
        FleetSample s;
        s.ingest_per_s = measured_at > 0 && now > measured_at
                             ? static_cast<double>(ingested - ingested_before) * 1000.0 /
                                   static_cast<double>(now - measured_at)
                             : ctx.ingest_rate.rate(now);
        ingested_before = ingested;
        measured_at = now;
        const auto counts = tracker.counts();
        s.unknown = counts[static_cast<size_t>(DeviceStatus::kUnknown)];
        s.online = counts[static_cast<size_t>(DeviceStatus::kOnline)];
        s.at_risk = counts[static_cast<size_t>(DeviceStatus::kAtRisk)];
        s.offline = counts[static_cast<size_t>(DeviceStatus::kOffline)];
        s.open_alerts = alerts.open_total();
        return s;
      });
  fleet_sampler.start();
  // KPI history: sampled into the telemetry store through the commit path (src/kpi).
  KpiHistorySampler kpi_history(cat, tracker, activity, ingestor, clock,
                                cfg.kpi_history_interval_ms);
  kpi_history.restore(**store);  // dashboard: count on from the last sample before a restart
  kpi_history.start();
  ctx.kpi_history_interval_ms = cfg.kpi_history_interval_ms;
  http::Router router;
  http::add_all_routes(router, ctx);
  compat::add_compat_routes(router, ctx);  // after the native routes (see compat/README.md)
  http::ApiDispatcher dispatcher(router, ctx, {cfg.max_body_bytes, cfg.cors_origins});

  http::ServerOptions opts;
  opts.host = cfg.http.host;
  opts.port = cfg.http.port;
  opts.max_body_bytes = cfg.max_body_bytes;
  opts.tls_enabled = cfg.https.enabled;
  opts.tls_host = cfg.https.host;
  opts.tls_port = cfg.https.port;
  opts.tls_cert_file = cfg.tls_cert;
  opts.tls_key_file = cfg.tls_key;
  opts.header_timeout = std::chrono::milliseconds(cfg.http_header_timeout_ms);  // transport
  opts.body_timeout = std::chrono::milliseconds(cfg.http_body_timeout_ms);
  opts.idle_timeout = std::chrono::milliseconds(cfg.http_idle_timeout_ms);
  opts.max_connections = cfg.http_max_connections;
  opts.max_connections_per_address = cfg.http_max_connections_per_address;
  opts.threads = cfg.threads > 0
                     ? cfg.threads
                     : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // Cluster mode: a device's reads go to its partition's owner (cluster/read_forwarder.h).
  std::unique_ptr<cluster::ReadForwarder> forwarder;
  if (cluster_node)
    forwarder = std::make_unique<cluster::ReadForwarder>(*cluster_node, 5'000,
                                                         auth_enabled ? &keys : nullptr, &sessions,
                                                         64, state_sync->forward_secret());
  if (forwarder) forwarder->SetPromqlLimits({cfg.promql_max_series, cfg.promql_max_points});
  http::HttpServer server(opts,
                          [&dispatcher, &forwarder](http::Request&& r, http::Responder respond) {
                            if (forwarder && forwarder->MaybeForward(r, respond)) return;
                            dispatcher.dispatch(std::move(r), std::move(respond));
                          });
  add_server_collectors(registry, {tracker, ingestor, **store, cfg.data_dir, cfg.metrics_device_cap,
                                   [&server] { return server.open_connections(); },
                                   [&alerts] { return alerts.open_counts(); }});
  add_alerting_collectors(registry, alerts, notifier);
  http::add_connection_collectors(registry, server);  // transport
  if (Status s = server.listen(); !s.ok()) {
    spdlog::critical("event=startup_failed reason=\"{}\"", s.message());
    ingestor.stop();
    alerts.stop();
    notifier.stop();
    return 1;
  }
  // The MQTT endpoint, when on: same commit path, same auth.
  auto topics = mqtt::TopicTemplates::parse(cfg.mqtt_telemetry_topics, cfg.mqtt_heartbeat_topics);
  if (!topics.ok()) {
    spdlog::critical("event=startup_failed reason=\"{}\"", topics.status().message());
    ingestor.stop();
    return 1;
  }
  std::unique_ptr<mqtt::MqttServer> mqtt;
  std::unique_ptr<cluster::DevicePushRelay> push_relay;  // relay: declared after mqtt, goes first
  if (ctx.mqtt_enabled) {
    mqtt::MqttServerOptions mo;
    mo.host = cfg.mqtt.host;
    mo.port = cfg.mqtt.port;
    mo.plain_enabled = cfg.mqtt.enabled;
    mo.tls_enabled = cfg.mqtt_tls.enabled;
    mo.tls_host = cfg.mqtt_tls.host;
    mo.tls_port = cfg.mqtt_tls.port;
    mo.tls_cert_file = cfg.tls_cert;
    mo.tls_key_file = cfg.tls_key;
    mo.threads = opts.threads;
    mo.max_connections = cfg.mqtt_max_connections;
    mo.max_packet_bytes = cfg.mqtt_max_packet_bytes;
    mo.max_inflight = static_cast<uint16_t>(cfg.mqtt_max_inflight);
    mo.max_buffered_bytes = cfg.mqtt_max_buffered_bytes;
    mo.auth = auth_enabled;
    mo.topics = *topics;
    mo.queue_limits = {cfg.mqtt_queue_per_device, cfg.mqtt_queue_total};
    mo.queue_expiry = std::chrono::milliseconds(cfg.mqtt_queue_expiry_ms);
    mo.disk_behind = [&disk_work] { return disk_work.stats().reason; };  // mqttdur: MQTT shed
    mqtt = std::make_unique<mqtt::MqttServer>(
        std::move(mo), mqtt::MqttServerDeps{*writes, ingestor, **catalog, device_tokens, keys,
                                            device_connections, registry, server_metrics, clock,
                                            &ctx.ingest_rate, &activity, &consumer_feed});
    Status restored = mqtt->restore_sessions();
    if (Status s = restored.ok() ? mqtt->listen() : restored; !s.ok()) {
      spdlog::critical("event=startup_failed reason=\"{}\"", s.message());
      server.shutdown(std::chrono::seconds(0));
      ingestor.stop();
      return 1;
    }
    if (Status s = mqtt->reload_tls(); !s.ok())  // before start(): SIGHUP reloads it later
      spdlog::error("event=tls_reload_failed transport=mqtt reason=\"{}\"", s.message());
    mqtt->start();
    ctx.on_config_changed = [m = mqtt.get()](const std::string& id, const std::string& config) {
      m->push_config(id, config);
    };
    ctx.on_command = [m = mqtt.get()](const std::string& id, const std::string& payload) {
      mqtt::CommandOutcome o = m->push_command(id, payload);
      return http::ApiContext::CommandOutcome{o.status, o.command_id, o.delivered_to,
                                              o.expires_at_ms};
    };
    // Revocation reaches open sessions: a revoked token, a changed or revoked operator key, a
    // removed device. (The MqttServer object lives until the HTTP server is shut down.)
    device_tokens.add_revoke_listener(
        [m = mqtt.get()](const std::string&, const std::string& token_id) {
          m->close_token_sessions(token_id);
        });
    keys.add_change_listener(
        [m = mqtt.get()](const std::string& key_id) { m->close_key_sessions(key_id); });
    device_connections.add_removal_listener(
        [m = mqtt.get()](const std::string& device_id) { m->forget_device(device_id); });
    if (cluster_node) {  // relay: config pushes and commands reach a device on any node
      auto r = WireDevicePushRelay(cfg.cluster.nats, cfg.cluster.node_id, *mqtt, device_connections,
                                   ctx);
      if (!r.ok()) spdlog::error("event=device_push_relay_off reason=\"{}\"", r.status().message());
      if (r.ok()) push_relay = std::move(*r);
    }
    if (cfg.mqtt.enabled)
      spdlog::info("event=listening transport=mqtt address={}:{} auth={}", cfg.mqtt.host,
                   mqtt->port(), auth_enabled ? "on" : "off");
    if (cfg.mqtt_tls.enabled)
      spdlog::info("event=listening transport=mqtt_tls address={}:{}", cfg.mqtt_tls.host,
                   mqtt->tls_port());
  }
  // Bridge mode: consume from external brokers through the same ingest path.
  std::vector<std::unique_ptr<mqtt::BridgeClient>> bridges;
  for (const std::string& url : cfg.mqtt_bridge) {
    mqtt::BridgeOptions bo;
    bo.url = url;
    if (!mqtt::BridgeClient::parse_url(url, bo.host, bo.port)) {
      spdlog::critical("event=startup_failed reason=\"bad --mqtt-bridge URL {}\"", url);
      if (mqtt) mqtt->shutdown(std::chrono::seconds(0));
      server.shutdown(std::chrono::seconds(0));
      ingestor.stop();
      return 1;
    }
    // One fixed client id per broker, so each broker keeps this server's session.
    bo.client_id = cfg.mqtt_bridge_client_id;
    bo.group = cfg.mqtt_bridge_group;
    bo.username = cfg.mqtt_bridge_username;
    bo.password = cfg.mqtt_bridge_password;
    auto b = std::make_unique<mqtt::BridgeClient>(
        std::move(bo),
        mqtt::IngestSinks{*writes, ingestor, server_metrics, clock, &ctx.ingest_rate, &activity,
                          &**catalog},
        *topics, registry);
    if (Status s = b->start(); !s.ok()) {
      spdlog::critical("event=startup_failed reason=\"{}\"", s.message());
      if (mqtt) mqtt->shutdown(std::chrono::seconds(0));
      server.shutdown(std::chrono::seconds(0));
      ingestor.stop();
      return 1;
    }
    bridges.push_back(std::move(b));
  }
  if (mqtt || !bridges.empty())
    ctx.mqtt_health_json = [m = mqtt.get(), &bridges] { return mqtt_health(m, bridges); };
  server.start();
  live.start([&ctx] { return http::stats_json(ctx); });
  ctx.ready = true;
  spdlog::info(
      "event=listening transport=http address={}:{} auth={} devices={} data_dir={} startup_ms={}",
      cfg.http.host, server.port(), auth_enabled ? "on" : "off", tracker.size(), cfg.data_dir,
      clock.now_ms() - started);
  if (cfg.https.enabled)
    spdlog::info("event=listening transport=https address={}:{}", cfg.https.host,
                 server.tls_port());
  notify_service_manager("READY=1");  // Type=notify: recovery is done, the listeners are up

  const int sig = wait_for_stop_signal([&server, &cfg, m = mqtt.get()] {
    if (m && cfg.mqtt_tls.enabled) {
      Status s = m->reload_tls();
      if (s.ok())
        spdlog::info("event=tls_reloaded transport=mqtt cert={}", cfg.tls_cert);
      else
        spdlog::error("event=tls_reload_failed transport=mqtt reason=\"{}\"", s.message());
    }
    if (!cfg.https.enabled) return;
    Status s = server.reload_tls();
    if (s.ok())
      spdlog::info("event=tls_reloaded transport=https cert={}", cfg.tls_cert);
    else
      spdlog::error("event=tls_reload_failed transport=https reason=\"{}\"", s.message());
  });
  notify_service_manager("STOPPING=1");
  spdlog::info("event=shutdown signal={} in_flight={}", sig == SIGTERM ? "SIGTERM" : "SIGINT",
               server.in_flight());
  ctx.ready = false;
  auth_throttle.stop();  // refusals waiting for their delay are answered now
  fleet_sampler.stop();
  kpi_history.stop();
  for (auto& b : bridges) b->stop();
  consumer_feed.stop();  // consumers: no more wake-ups for connections about to close
  // relay: no more pushes from other nodes into the MQTT server about to stop
  if (push_relay) push_relay->Stop();
  if (mqtt) mqtt->shutdown(std::chrono::seconds(5));
  server.shutdown(std::chrono::seconds(10));
  // Queued disk jobs use the router, the context and the server: run them while those live,
  // and before the Ingestor they submit to (flushes, removals) stops.
  disk_work.stop();
  if (cluster_node) cluster_node->Stop();  // no more applying before the Ingestor stops
  if (state_sync) state_sync->Stop();
  ingestor.stop();
  // A flush's callback holds its HTTP responder (the disk queue, the server): answered now.
  (*store)->stop_block_thread();
  live.stop();
  alerts.stop();
  notifier.stop();
  spdlog::info("event=stopped heartbeats={} uptime_s={}", ingestor.stats().heartbeats,
               (clock.now_ms() - started) / 1000);
  return 0;
}

}  // namespace fp
