#pragma once
// The device object of API.md as JSON, merging the catalog row with the live state. Carries an
// `attributes` object (key -> string) when the device was read with its attributes (one
// device: GET /api/v1/devices/{id}); lists leave it out.

#include <optional>

#include "model/device.h"
#include "monitor/device_connections.h"
#include "monitor/device_status_tracker.h"
#include "util/json_writer.h"

namespace fp::http {

// `connection`: the device's MQTT connection state (connected false and null times without).
void write_device(JsonWriter& w, const Device& d, const std::optional<DeviceLiveState>& live,
                  const std::optional<DeviceConnectionState>& connection = std::nullopt);

}  // namespace fp::http
