#pragma once
// The simulated devices: what each kind measures and how its readings evolve over time
// (daily cycles, random walks, battery drain, moving vehicles, rare out-of-range spikes).
//
// Everything is driven by a caller-owned random generator, so a fleet built and sampled with
// the same seed and the same timestamps yields the same readings. Not thread-safe: one thread
// owns a fleet.

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fp::sim {

using Rng = std::mt19937_64;

enum class DeviceKind { kTemperature, kHumidity, kMotion, kAirQuality, kCamera, kVehicle };
inline constexpr int kDeviceKindCount = 6;
std::string_view to_string(DeviceKind k);

struct Site {
  std::string_view name;
  double lat;
  double lon;
};

// One simulated device and its evolving state.
struct SimDevice {
  std::string id;
  DeviceKind kind = DeviceKind::kTemperature;
  const Site* site = nullptr;
  bool battery_powered = true;
  double battery = 100;          // %
  double drain_pct_per_day = 1;  // battery drain while reporting
  double signal = -70;           // dBm, random walk
  double base = 0;               // kind-specific level around which values move
  double walk = 0;               // slow random-walk offset added to the daily cycle
  double lat = 0, lon = 0;       // current position (vehicles move)
  double heading_rad = 0;        // vehicles
  double fuel = 100;             // vehicles, %
  int64_t last_sample_ms = 0;    // time of the previous reading (0 before the first)
};

struct SimReading {
  int64_t ts_ms = 0;
  std::vector<std::pair<std::string_view, double>> values;  // metric name -> value
  bool spiked = false;  // one value was replaced by an out-of-range spike
};

// Builds `count` devices named "<prefix>-<kind>-<n>" with kinds, sites, starting battery and
// per-device baselines drawn from `rng`. The mix favours small sensors over cameras and vehicles.
std::vector<SimDevice> make_fleet(int count, std::string_view prefix, Rng& rng);

// Advances `d` to `ts_ms` (battery, random walks, vehicle position) and returns its reading.
// With probability `spike_probability` one value is an out-of-range spike (e.g. 150 °C).
SimReading sample(SimDevice& d, int64_t ts_ms, double spike_probability, Rng& rng);

// The metric names `kind` reports (e.g. "temperature", "battery_level").
std::vector<std::string_view> metric_names(DeviceKind kind);

}  // namespace fp::sim
