#pragma once
// DevicePushRelay: config changes and commands reach a device on whichever node its MQTT
// connection is (cluster mode; docs/cluster.md "Pushes to devices on any node").
//
// Every node subscribes to `fleetpulse.push.*` on its own NATS connection (core NATS, nothing
// stored). PublishConfig() sends a changed config to every other node, which pushes it with its
// own MqttServer::push_config when the device has had a connection there since the node started
// (`knows_device`; the push is then stored for a persistent session that is away, as on one
// node). AskToDeliver() asks the other nodes, as one NATS request, to take a command: only a
// node where the device is connected now answers (after storing and sending it with its own
// push_command), and the first answer is the outcome; no answer within `command_wait_ms` gives
// nullopt. Guarantees: at most once per node (core NATS: a node disconnected from NATS at that
// moment does not get the message; nothing is retried).
//
// Thread safety: PublishConfig / AskToDeliver from any thread (AskToDeliver blocks the caller
// up to command_wait_ms). The targets are called on the subscription's delivery thread, one
// message at a time, until Stop() returns; they must stay valid until then.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/device_push_codec.h"
#include "util/result.h"

namespace fp::cluster {

struct DevicePushRelayOptions {
  std::vector<std::string> nats;
  std::string node_id;
  int64_t command_wait_ms = 2'000;
};

// This node's MQTT server, as the relay uses it (lambdas over mqtt::MqttServer and
// DeviceConnections, set by app/server.cc).
struct DevicePushTargets {
  std::function<bool(const std::string& device_id)> knows_device;  // had a connection here
  std::function<bool(const std::string& device_id)> connected;     // has a connection now
  std::function<void(const std::string& device_id, const std::string& config_json)> push_config;
  // Stores and sends a command here; nullopt when it was not stored (queue full, error).
  std::function<std::optional<CommandDelivery>(const std::string& device_id,
                                               const std::string& payload)>
      push_command;
};

class DevicePushRelay {
 public:
  // Connects and subscribes; an unreachable NATS is retried in the background (never an error).
  static Result<std::unique_ptr<DevicePushRelay>> Start(const DevicePushRelayOptions& o,
                                                        DevicePushTargets targets);
  ~DevicePushRelay();
  DevicePushRelay(const DevicePushRelay&) = delete;
  DevicePushRelay& operator=(const DevicePushRelay&) = delete;

  // Sends a device's changed config to every other node (fire and forget; logged on failure).
  void PublishConfig(const std::string& device_id, const std::string& config_json);
  // Asks every other node to deliver a command to the device; the first node that has the
  // device connected answers. nullopt: no answer within command_wait_ms (connected nowhere
  // else, or NATS unavailable).
  std::optional<CommandDelivery> AskToDeliver(const std::string& device_id,
                                              const std::string& payload);
  // Stops handling messages (a message being handled finishes first), then drains the
  // subscription (at most ~3 s). Idempotent.
  void Stop();

  struct Impl;

 private:
  explicit DevicePushRelay(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fp::cluster
