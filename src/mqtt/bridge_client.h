#pragma once
// BridgeClient: fleetpulse as a client of an external MQTT broker (libmosquitto). It subscribes
// with QoS 1 to the telemetry and heartbeat topics, through a shared subscription
// ($share/<group>/...) so several fleetpulse servers split one stream, and submits each message
// through the same path as device connections. It reconnects with exponential backoff
// (1 s doubling to 30 s).
//
// Delivery guarantee (libmosquitto 2.0 acknowledges a QoS 1 message itself, before handing it
// over; it has no manual acknowledgement): the session is persistent (clean session off, fixed
// client id), so whatever the broker accepted while fleetpulse or the link was down is
// delivered after reconnecting, also across broker restarts with persistence. The message
// callback blocks until the message is durable, and libmosquitto reads nothing else meanwhile,
// so at any moment at most ONE message per bridge connection has been acknowledged upstream but
// is not yet durable: only a fleetpulse crash at that instant can lose it.
//
// Thread safety: start/stop from the owning thread; the rest from any thread.

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "metrics/registry.h"
#include "mqtt/message_ingest.h"
#include "mqtt/topic_templates.h"

struct mosquitto;
struct mosquitto_message;

namespace fp::mqtt {

struct BridgeOptions {
  std::string url;  // mqtt://host:port (for logs and metrics)
  std::string host;
  int port = 1883;
  std::string client_id = "fleetpulse";
  std::string group = "fleetpulse";  // shared subscription group; empty: plain subscriptions
  std::string username, password;
  int keepalive_s = 30;
};

class BridgeClient {
 public:
  // `sinks`, `topics` and `registry` must outlive the client.
  BridgeClient(BridgeOptions options, IngestSinks sinks, const TopicTemplates& topics,
               metrics::Registry& registry);
  ~BridgeClient();
  BridgeClient(const BridgeClient&) = delete;
  BridgeClient& operator=(const BridgeClient&) = delete;

  // Starts connecting in the background; an unreachable broker is retried, not an error.
  Status start();
  // Disconnects and joins libmosquitto's thread; a message being stored is finished first.
  void stop();

  bool connected() const { return connected_.load(); }
  uint64_t messages() const { return messages_.load(); }
  const BridgeOptions& options() const { return options_; }
  // The subscriptions it makes, e.g. "$share/fleetpulse/devices/+/telemetry".
  std::vector<std::string> subscriptions() const;

  // "mqtt://host:port" -> host and port; false when malformed.
  static bool parse_url(const std::string& url, std::string& host, int& port);

 private:
  static void on_connect(mosquitto* m, void* self, int rc);
  static void on_disconnect(mosquitto* m, void* self, int rc);
  static void on_message(mosquitto* m, void* self, const mosquitto_message* msg);
  void handle(const mosquitto_message* msg);

  const BridgeOptions options_;
  IngestSinks sinks_;
  const TopicTemplates& topics_;
  metrics::Gauge& connected_gauge_;
  metrics::Counter& received_;
  metrics::Counter& rejected_;
  mosquitto* mosq_ = nullptr;
  std::atomic<bool> connected_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> messages_{0};
};

}  // namespace fp::mqtt
