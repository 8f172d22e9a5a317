#pragma once
// DeviceConnections: whether each device holds an MQTT connection now, and when it last
// connected and disconnected. Kept in memory (a restart forgets it: every device starts
// disconnected); status stays driven by data and heartbeats, not by connections.
//
// Thread safety: all methods may be called from any thread.

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace fp {

struct DeviceConnectionState {
  bool connected = false;  // at least one connection open
  int open_connections = 0;
  std::optional<int64_t> last_connect_ms;
  std::optional<int64_t> last_disconnect_ms;
};

class DeviceConnections {
 public:
  void on_connect(const std::string& device_id, int64_t at_ms);
  void on_disconnect(const std::string& device_id, int64_t at_ms);
  // nullopt for a device that never connected since the server started.
  std::optional<DeviceConnectionState> get(const std::string& device_id) const;
  // The device was removed: forgets its state, then calls the removal listeners (which close
  // its MQTT sessions and drop its queued pushes) on this thread, with no lock held.
  void forget(const std::string& device_id);
  // Listeners are never removed.
  void add_removal_listener(std::function<void(const std::string& device_id)> l);

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, DeviceConnectionState> by_device_;        // guarded by mu_
  std::vector<std::function<void(const std::string&)>> removal_listeners_;  // guarded by mu_
};

}  // namespace fp
