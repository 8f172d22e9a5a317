#pragma once
// The JSON the simulated devices send and the answers they read, the same for every transport.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "simulate/report_sink.h"

namespace fp::sim {

// A telemetry body: an array of flat readings ({"device_id","ts",<metric>:<value>...}); an
// invalid reading carries "ts":"not-a-time".
std::string encode_readings_json(const std::vector<OutgoingReading>& batch);
// One flat reading object.
std::string encode_reading_json(const OutgoingReading& r);
// A heartbeat body: battery_level (when battery-powered), signal_strength, and for vehicles
// "location":{"lat","lon"}.
std::string encode_heartbeat_json(const HeartbeatMessage& hb);

// The indexes a 422 telemetry answer lists under "rejected"; nullopt when `body` is not that
// shape (any bytes are safe: fuzzed by tests/fuzz/fuzz_simulator_answers.cc).
std::optional<std::vector<size_t>> rejected_indexes(std::string_view body);

}  // namespace fp::sim
