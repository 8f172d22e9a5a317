#pragma once
// Device: a registered device as the catalog stores it and the API shows it.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fp {

enum class DeviceStatus : uint8_t { kUnknown, kOnline, kAtRisk, kOffline };
inline constexpr int kDeviceStatusCount = 4;

std::string_view to_string(DeviceStatus s);
std::optional<DeviceStatus> parse_device_status(std::string_view s);

struct GeoPoint {
  double lat = 0;
  double lon = 0;
};

struct Device {
  std::string device_id;
  std::string name;
  std::string type;
  std::string location;
  std::string metadata_json = "{}";  // a JSON object, stored verbatim
  std::string config_json = "{}";    // a JSON object of key/values pushed to the device
  DeviceStatus status = DeviceStatus::kUnknown;
  std::string status_reason;
  std::optional<int64_t> last_seen_ms;
  std::optional<double> battery_level;    // percent 0..100
  std::optional<double> signal_strength;  // dBm, -150..0
  std::optional<GeoPoint> geo;            // last reported position
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  // Strings the device reported beside its values, by key (Catalog::device_attributes); set
  // only where the device was read with them (one device), nullopt in lists.
  std::optional<std::vector<std::pair<std::string, std::string>>> attributes;
};

// One recorded change of a device's status.
struct StatusTransition {
  std::string device_id;
  DeviceStatus from = DeviceStatus::kUnknown;
  DeviceStatus to = DeviceStatus::kUnknown;
  std::string reason;
  int64_t at_ms = 0;
};

// Device ids: 1..128 characters of [A-Za-z0-9._:-], not "." or ".." (an id is a path segment
// in URLs and topics). Returns an error message or empty.
std::string validate_device_id(std::string_view id);

// Size limits of what a client may store on a device, so no request can make a device row
// (and every list or stream that shows it) arbitrarily large.
inline constexpr size_t kMaxDeviceTextBytes = 256;           // name, type, location, unit
inline constexpr size_t kMaxDeviceJsonBytes = 64 * 1024;     // metadata, config (as sent)
inline constexpr size_t kMaxAttributeValueBytes = 4 * 1024;  // a reported string value

// `field` ("name", "type", "location") of at most kMaxDeviceTextBytes; error message or empty.
std::string validate_device_text(std::string_view field, std::string_view value);
// `field` ("metadata", "config") of at most kMaxDeviceJsonBytes; error message or empty.
std::string validate_device_json_size(std::string_view field, std::string_view json);

}  // namespace fp
