#pragma once
// Cluster mode: config pushes and commands of the HTTP API reach a device on whichever node
// its MQTT connection is (cluster/device_push_relay.h over this node's MqttServer).

#include <memory>
#include <string>
#include <vector>

#include "cluster/device_push_relay.h"
#include "util/result.h"

namespace fp {
class DeviceConnections;
namespace mqtt {
class MqttServer;
}
namespace http {
struct ApiContext;
}

// Starts the relay and sets ctx.on_config_changed (pushed here, then relayed to every other
// node) and ctx.on_command (here when the device is connected here; else the node that has it
// connected answers; else queued here). `mqtt` and `connections` must outlive the relay; stop
// the relay before mqtt shuts down.
Result<std::unique_ptr<cluster::DevicePushRelay>> WireDevicePushRelay(
    const std::vector<std::string>& nats, const std::string& node_id, mqtt::MqttServer& mqtt,
    DeviceConnections& connections, http::ApiContext& ctx);

}  // namespace fp
