#pragma once
// The device object of API.md as JSON, merging the catalog row with the live state.

#include <optional>

#include "model/device.h"
#include "monitor/device_status_tracker.h"
#include "util/json_writer.h"

namespace fp::http {

void write_device(JsonWriter& w, const Device& d, const std::optional<DeviceLiveState>& live);

}  // namespace fp::http
