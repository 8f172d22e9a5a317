#include "model/device.h"

namespace fp {

std::string_view to_string(DeviceStatus s) {
  switch (s) {
    case DeviceStatus::kOnline:
      return "online";
    case DeviceStatus::kAtRisk:
      return "at_risk";
    case DeviceStatus::kOffline:
      return "offline";
    case DeviceStatus::kUnknown:
      break;
  }
  return "unknown";
}

std::optional<DeviceStatus> parse_device_status(std::string_view s) {
  if (s == "online") return DeviceStatus::kOnline;
  if (s == "at_risk") return DeviceStatus::kAtRisk;
  if (s == "offline") return DeviceStatus::kOffline;
  if (s == "unknown") return DeviceStatus::kUnknown;
  return std::nullopt;
}

std::string validate_device_id(std::string_view id) {
  if (id.empty()) return "device_id must not be empty";
  if (id.size() > 128) return "device_id is longer than 128 characters";
  if (id == "." || id == "..") return "device_id must not be '.' or '..'";
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return "device_id may contain only letters, digits and . _ : -";
  }
  return {};
}

std::string validate_device_text(std::string_view field, std::string_view value) {
  if (value.size() > kMaxDeviceTextBytes)
    return std::string(field) + " is longer than " + std::to_string(kMaxDeviceTextBytes) + " bytes";
  return {};
}

std::string validate_device_json_size(std::string_view field, std::string_view json) {
  if (json.size() > kMaxDeviceJsonBytes)
    return std::string(field) + " is larger than " + std::to_string(kMaxDeviceJsonBytes / 1024) +
           " KiB";
  return {};
}

}  // namespace fp
