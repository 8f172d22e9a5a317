#pragma once
// MqttServer: the device-side MQTT endpoint (3.1.1 and 5.0) on Boost.Asio, plain TCP and
// optionally TLS. Devices publish telemetry and heartbeats to the topics of TopicTemplates;
// each PUBLISH is decoded by the same decoders as HTTP and submitted to the Ingestor, and its
// PUBACK (QoS 1) or PUBREC (QoS 2) is sent only once the Ingestor reports it durable, in the
// order the PUBLISHes arrived. Devices may subscribe to their own devices/{id}/config and
// devices/{id}/commands; push_config() / push_command() deliver to them.
//
// Limits: connections, in-flight (not yet durable) messages per connection, and bytes buffered
// per connection. A connection at its limit is not read from (back-pressure) until acks drain.
// A malformed or hostile packet closes only its own connection, with the MQTT 5 reason code.
//
// Boost types stay inside the .cc files. Thread safety: push_*, stats() and health_json() may
// be called from any thread; listen/start/shutdown from the owning thread.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "auth/api_key_authenticator.h"
#include "auth/device_token_authenticator.h"
#include "ingest/ingestor.h"
#include "ingest/write_path.h"
#include "kpi/device_activity_log.h"
#include "live/consumer_feed.h"
#include "metrics/registry.h"
#include "metrics/server_metrics.h"
#include "monitor/device_connections.h"
#include "mqtt/topic_templates.h"
#include "storage/catalog/catalog.h"
#include "util/clock.h"
#include "util/rate_meter.h"

namespace fp::mqtt {

struct MqttServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 1883;  // 0 picks a free port
  bool plain_enabled = true;
  bool tls_enabled = false;
  std::string tls_host = "127.0.0.1";
  uint16_t tls_port = 8883;
  std::string tls_cert_file;  // PEM certificate chain
  std::string tls_key_file;   // PEM private key
  int threads = 2;
  size_t max_connections = 10'000;
  size_t max_packet_bytes = 1 << 20;         // advertised as Maximum Packet Size (v5)
  uint16_t max_inflight = 64;                // per connection; advertised as Receive Maximum
  size_t max_buffered_bytes = 2 << 20;       // per connection: unsent output
  std::chrono::seconds connect_timeout{10};  // from TCP accept to CONNECT
  bool auth = false;  // user name = device id, password = its device token (or a write API key)
  TopicTemplates topics = TopicTemplates::defaults();
  // Commands waiting for a device (stored in the catalog until acknowledged): bounds and expiry.
  PushQueueLimits queue_limits;
  std::chrono::milliseconds queue_expiry{std::chrono::hours(24)};
  // Why the disk is behind (the HTTP disk gate's verdict), empty while it keeps up; may be
  // empty. While it says behind, a CONNECT of a persistent session is refused (v5 0x89 Server
  // busy, 3.1.1 return code 3), a SUBSCRIBE of one gets failure codes (v5 0x97 Quota exceeded,
  // 3.1.1 0x80) and a PUBLISH is not stored (v5 0x97; 3.1.1 QoS 1/2 closes the connection
  // unacknowledged, QoS 0 is dropped), counted in fleetpulse_mqtt_shed_total{packet}.
  std::function<std::string()> disk_behind;
};

// What the server works with; everything must outlive it.
struct MqttServerDeps {
  WritePath& writes;
  Ingestor& ingestor;  // admission (cardinality limits) only; writes go through `writes`
  Catalog& catalog;
  DeviceTokenAuthenticator& device_tokens;
  ApiKeyAuthenticator& api_keys;
  DeviceConnections& connections;
  metrics::Registry& registry;
  metrics::ServerMetrics& server_metrics;
  const Clock& clock;
  RateMeter* ingest_rate = nullptr;       // heartbeats and points per second, may be null
  DeviceActivityLog* activity = nullptr;  // per-device rejections for KPIs, may be null
  // Durable events for consumers (read keys subscribed to devices/+/telemetry, ...); null:
  // consumer subscriptions are refused.
  ConsumerFeed* consumers = nullptr;
};

// What became of a command (push_command).
struct CommandOutcome {
  Status status;              // kOverloaded when the queue is full; nothing stored then
  int64_t command_id = 0;     // its place in the queue
  size_t delivered_to = 0;    // connections it was sent to now (0: queued for later)
  int64_t expires_at_ms = 0;  // dropped unacknowledged after this
};

struct MqttStats {
  uint64_t connections = 0;  // open sockets
  uint64_t sessions = 0;     // connected clients (after CONNACK)
  uint64_t messages = 0;     // PUBLISH packets received
  uint64_t inflight = 0;     // messages waiting for durability
};

class MqttServer {
 public:
  MqttServer(MqttServerOptions options, MqttServerDeps deps);
  ~MqttServer();
  MqttServer(const MqttServer&) = delete;
  MqttServer& operator=(const MqttServer&) = delete;

  // Restores the persistent sessions stored in the catalog (a session that was connected when
  // the server stopped starts its expiry now). Call once, before start().
  Status restore_sessions();
  // Binds the listeners (and loads the TLS certificate); ports are known afterwards.
  Status listen();
  // Reads --tls-cert/--tls-key again (SIGHUP); new TLS handshakes use them, open connections
  // keep theirs. A pair that does not load is an error and the previous one stays. The first
  // call installs the hook on the listener's TLS context: make it after listen() and before
  // start() (run_server does); later calls may come from any thread. No-op without TLS.
  Status reload_tls();
  uint16_t port() const;
  uint16_t tls_port() const;
  // Starts accepting and the I/O threads. Returns immediately.
  void start();
  // Stops accepting, lets in-flight messages be acknowledged for up to `drain`, then sends
  // v5 clients DISCONNECT 0x8B (server shutting down), closes everything and joins.
  void shutdown(std::chrono::milliseconds drain);

  // Publishes a device's config (JSON object text) to its devices/{id}/config subscribers.
  void push_config(const std::string& device_id, const std::string& config_json);
  // Stores a command for the device (durable when this returns ok) and sends it to the
  // connections subscribed to devices/{id}/commands now. It stays queued until a subscriber
  // acknowledges it (QoS 1) or gets it with QoS 0, or until it expires; a device that
  // subscribes (or resumes a persistent session) gets what is queued, oldest first.
  CommandOutcome push_command(const std::string& device_id, const std::string& payload);

  // Revocation (any thread; the connections close on their own strands within milliseconds).
  // Closes the sessions authenticated with device token `token_id` (v5: DISCONNECT 0x87).
  void close_token_sessions(const std::string& token_id);
  // Closes the sessions authenticated with operator key `key_id`.
  void close_key_sessions(const std::string& key_id);
  // The device was removed: closes its sessions and drops its stored sessions and pushes.
  void forget_device(const std::string& device_id);

  MqttStats stats() const;
  // The "mqtt" component of /api/v1/health/detailed.
  std::string health_json() const;

  struct Impl;  // defined in mqtt_server.cc

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace fp::mqtt
