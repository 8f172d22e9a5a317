#include "monitor/device_connections.h"

namespace fp {

void DeviceConnections::on_connect(const std::string& device_id, int64_t at_ms) {
  std::lock_guard lock(mu_);
  auto& s = by_device_[device_id];
  ++s.open_connections;
  s.connected = true;
  s.last_connect_ms = at_ms;
}

void DeviceConnections::on_disconnect(const std::string& device_id, int64_t at_ms) {
  std::lock_guard lock(mu_);
  auto& s = by_device_[device_id];
  if (s.open_connections > 0) --s.open_connections;
  s.connected = s.open_connections > 0;
  s.last_disconnect_ms = at_ms;
}

std::optional<DeviceConnectionState> DeviceConnections::get(const std::string& device_id) const {
  std::lock_guard lock(mu_);
  auto it = by_device_.find(device_id);
  if (it == by_device_.end()) return std::nullopt;
  return it->second;
}

void DeviceConnections::forget(const std::string& device_id) {
  std::vector<std::function<void(const std::string&)>> listeners;
  {
    std::lock_guard lock(mu_);
    by_device_.erase(device_id);
    listeners = removal_listeners_;
  }
  for (const auto& l : listeners) l(device_id);
}

void DeviceConnections::add_removal_listener(std::function<void(const std::string&)> l) {
  std::lock_guard lock(mu_);
  removal_listeners_.push_back(std::move(l));
}

}  // namespace fp
