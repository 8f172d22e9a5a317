#pragma once
// ServerState: what every MQTT connection of one MqttServer shares: options, dependencies,
// metrics, the session table (client id -> session, for takeover and persistent sessions) and
// the subscription table (topic -> connections, for config and command pushes).
// Internal to src/mqtt.
//
// Thread safety: the tables are guarded by their mutexes; counters are atomics.

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "mqtt/mqtt_server.h"
#include "storage/catalog/write_queue.h"

namespace fp::mqtt {

class Connection;

// The MQTT metric families (fleetpulse_mqtt_*).
struct MqttMetrics {
  explicit MqttMetrics(metrics::Registry& r);
  metrics::Gauge& connections;                  // open sockets
  metrics::Family<metrics::Counter>& accepted;  // fleetpulse_mqtt_connections_total{result}
  metrics::Family<metrics::Counter>& messages;  // fleetpulse_mqtt_messages_received_total{qos}
  metrics::Family<metrics::Counter>& rejected;  // fleetpulse_mqtt_messages_rejected_total{reason}
  metrics::Family<metrics::Counter>& closed;    // fleetpulse_mqtt_disconnects_total{reason}
  metrics::Gauge& inflight;                     // fleetpulse_mqtt_inflight_messages
  metrics::Gauge& buffered;                     // fleetpulse_mqtt_buffered_bytes
  metrics::Counter& paused;                     // fleetpulse_mqtt_backpressure_pauses_total
  metrics::Counter& delivered;                  // fleetpulse_mqtt_messages_sent_total
  metrics::Counter& commands_queued;            // fleetpulse_mqtt_commands_queued_total
  metrics::Counter& commands_refused;           // fleetpulse_mqtt_commands_refused_total
  metrics::Counter& commands_expired;           // fleetpulse_mqtt_commands_expired_total
  metrics::Counter& revoked;                    // fleetpulse_mqtt_revocations_total
  metrics::Counter& consumer_sent;              // fleetpulse_mqtt_consumer_messages_sent_total
  metrics::Counter& consumer_cut;               // fleetpulse_mqtt_consumer_overflows_total
  metrics::Family<metrics::Counter>& shed;      // fleetpulse_mqtt_shed_total{packet}
  metrics::Counter& ingest_batches;             // fleetpulse_mqtt_ingest_batches_total
  // messages{qos="0"|"1"|"2"}, resolved once: Family::with() locks and allocates per call.
  std::array<metrics::Counter*, 3> messages_by_qos{};
};

// Lets catalog-write completions (on the catalog's writer thread) post to connections only
// while the server's I/O runs: shutdown closes it before the io_context stops.
struct CompletionGate {
  std::mutex mu;
  bool open = true;  // guarded by mu
};

// State a client keeps across connections when its session is persistent (3.1.1 clean
// session 0, v5 session expiry > 0). Used by one connection at a time.
struct Session {
  std::mutex mu;
  std::map<std::string, uint8_t> subscriptions;  // filter -> granted QoS; guarded by mu
  std::map<uint16_t, bool> awaiting_pubrel;      // QoS 2 ids -> PUBREC sent; guarded by mu
  bool persistent = false;                       // guarded by mu
  int64_t expiry_ms = INT64_MAX;                 // how long it outlives a connection; guarded by mu
  int64_t expires_at_ms = INT64_MAX;             // set at disconnect; guarded by mu
  std::string device_id;                         // whose session it is; guarded by mu
  bool stored = false;  // a row in the catalog (persistent sessions); guarded by mu
};

// Which sessions a revocation closes (Connection::close_if_async).
enum class Revocation { kToken, kApiKey, kDevice };

struct ServerState {
  ServerState(MqttServerOptions o, MqttServerDeps d)
      : options(std::move(o)),
        deps(d),
        metrics(d.registry),
        points_mqtt(d.server_metrics.points_ingested.with({"mqtt"})) {}

  const MqttServerOptions options;
  MqttServerDeps deps;
  MqttMetrics metrics;
  metrics::Counter& points_mqtt;  // fleetpulse points ingested{source="mqtt"}, resolved once

  std::atomic<uint64_t> open_sockets{0};
  std::atomic<uint64_t> connected_clients{0};
  std::atomic<uint64_t> messages{0};
  std::atomic<int64_t> inflight{0};
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> next_auto_id{1};

  // Client id -> its session and the connection that holds it now.
  struct SessionSlot {
    std::shared_ptr<Session> session;  // null for a clean session that needed none yet
    std::weak_ptr<Connection> owner;
  };
  // The hash of a client id is computed again on each lookup instead of stored in the node:
  // a hasher libstdc++ does not know counts as fast, so the node is 72 bytes, not 80 (one
  // node per connected client; ids are short).
  struct ClientIdHash {
    size_t operator()(const std::string& s) const noexcept { return std::hash<std::string>{}(s); }
  };
  std::mutex sessions_mu;
  std::unordered_map<std::string, SessionSlot, ClientIdHash> sessions;  // guarded by sessions_mu
  // With sessions_mu held: makes room for one more session. Expired sessions of absent
  // clients go first; beyond 2 x max_connections, absent clients' sessions go regardless
  // (memory stays bounded whatever client ids a fleet invents). Returns the client ids of
  // the stored sessions it dropped, for the caller to delete once the lock is released.
  std::vector<std::string> prune_sessions_locked(int64_t now_ms);

  // Catalog copies of persistent sessions (called without locks). The write is queued on the
  // catalog's write queue, never waited for; `done` (may be empty) gets its outcome on the
  // writer thread once committed, so an answer sent from it (SUBACK, CONNACK) is kept across
  // kill -9. Writes of one session are queued in the order of their snapshots. Returns false
  // (and `done` is not called) when there was nothing to write.
  bool store_session(const std::string& client_id, Session& s, CatalogWriteQueue::Done done = {});
  bool unstore_session(const std::string& client_id, Session& s, CatalogWriteQueue::Done done = {});

  std::shared_ptr<CompletionGate> gate = std::make_shared<CompletionGate>();

  // Topic (no wildcards) -> subscribed connections.
  std::mutex subs_mu;
  std::unordered_map<std::string, std::vector<std::weak_ptr<Connection>>> subscribers;  // guarded

  // Every open connection (for shutdown and the keep-alive sweep). Unordered: its node is 24
  // bytes (a std::set's 48), one per idle connection.
  std::mutex conns_mu;
  std::unordered_set<std::shared_ptr<Connection>> connections;  // guarded by conns_mu

  void subscribe(const std::string& topic, const std::shared_ptr<Connection>& c);
  void unsubscribe(const std::string& topic, const Connection* c);
  std::vector<std::shared_ptr<Connection>> subscribers_of(const std::string& topic);
};

}  // namespace fp::mqtt
