#include "app/device_push_wiring.h"

#include "http/handlers/api_context.h"
#include "monitor/device_connections.h"
#include "mqtt/mqtt_server.h"

namespace fp {

Result<std::unique_ptr<cluster::DevicePushRelay>> WireDevicePushRelay(
    const std::vector<std::string>& nats, const std::string& node_id, mqtt::MqttServer& mqtt,
    DeviceConnections& connections, http::ApiContext& ctx) {
  auto connected = [&connections](const std::string& id) {
    auto c = connections.get(id);
    return c.has_value() && c->connected;
  };
  cluster::DevicePushTargets t;
  // A device connected here since start (now or with a session that may come back).
  t.knows_device = [&connections](const std::string& id) {
    return connections.get(id).has_value();
  };
  t.connected = connected;
  t.push_config = [&mqtt](const std::string& id, const std::string& config) {
    mqtt.push_config(id, config);
  };
  t.push_command = [&mqtt](const std::string& id,
                           const std::string& payload) -> std::optional<cluster::CommandDelivery> {
    mqtt::CommandOutcome o = mqtt.push_command(id, payload);
    if (!o.status.ok()) return std::nullopt;
    return cluster::CommandDelivery{o.command_id, o.delivered_to, o.expires_at_ms, {}};
  };
  auto relay = cluster::DevicePushRelay::Start({nats, node_id}, std::move(t));
  if (!relay.ok()) return relay.status();
  cluster::DevicePushRelay* r = relay->get();
  ctx.on_config_changed = [&mqtt, r](const std::string& id, const std::string& config) {
    mqtt.push_config(id, config);
    r->PublishConfig(id, config);
  };
  ctx.on_command = [&mqtt, r, connected](const std::string& id, const std::string& payload) {
    if (!connected(id)) {
      if (auto d = r->AskToDeliver(id, payload))
        return http::ApiContext::CommandOutcome{
            Status::Ok(), d->command_id, static_cast<size_t>(d->delivered_to), d->expires_at_ms};
    }
    mqtt::CommandOutcome o = mqtt.push_command(id, payload);
    return http::ApiContext::CommandOutcome{o.status, o.command_id, o.delivered_to,
                                            o.expires_at_ms};
  };
  return relay;
}

}  // namespace fp
