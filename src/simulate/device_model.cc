#include "simulate/device_model.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

namespace fp::sim {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kMsPerDay = 86'400'000.0;

constexpr std::array<Site, 8> kSites{{
    {"amsterdam-dc", 52.37, 4.90},
    {"berlin-office", 52.52, 13.40},
    {"paris-warehouse", 48.86, 2.35},
    {"london-lab", 51.51, -0.13},
    {"madrid-plant", 40.42, -3.70},
    {"milan-depot", 45.46, 9.19},
    {"warsaw-store", 52.23, 21.01},
    {"oslo-harbour", 59.91, 10.75},
}};

// Relative frequency of each kind in a fleet, in enum order.
constexpr std::array<double, kDeviceKindCount> kKindWeights{30, 20, 15, 15, 8, 12};

constexpr std::string_view kKindPrefix[kDeviceKindCount] = {"temp", "hum", "motion",
                                                            "air",  "cam", "vehicle"};

double uniform(Rng& rng, double lo, double hi) {
  return std::uniform_real_distribution<double>(lo, hi)(rng);
}
double normal(Rng& rng, double sigma) {
  return std::normal_distribution<double>(0, sigma)(rng);
}
bool chance(Rng& rng, double p) {
  return p > 0 && uniform(rng, 0, 1) < p;
}

// 0..1 over the day in UTC: 0 at 03:00 (coldest, quietest), 1 at 15:00.
double day_phase(int64_t ts_ms) {
  double hours = std::fmod(static_cast<double>(ts_ms) / 3'600'000.0, 24.0);
  return 0.5 - 0.5 * std::cos(2 * kPi * (hours - 3.0) / 24.0);
}

// Office hours (08:00..18:00 UTC on weekdays) are busier for people-driven metrics.
bool office_hours(int64_t ts_ms) {
  const int64_t day = ts_ms / 86'400'000;
  const int weekday = static_cast<int>((day + 3) % 7);  // 1970-01-01 was a Thursday; 0 = Monday
  const double hours = std::fmod(static_cast<double>(ts_ms) / 3'600'000.0, 24.0);
  return weekday < 5 && hours >= 8 && hours < 18;
}

// Rounds to a multiple of `step` (0.01, 0.1, 1...): dividing by the whole inverse gives the
// double nearest to the decimal, so 14.6 prints as 14.6, not 14.600000000000001.
double round_to(double v, double step) {
  const double inverse = std::round(1 / step);
  return inverse >= 1 ? std::round(v * inverse) / inverse : std::round(v / step) * step;
}

}  // namespace

std::string_view to_string(DeviceKind k) {
  switch (k) {
    case DeviceKind::kTemperature:
      return "temperature";
    case DeviceKind::kHumidity:
      return "humidity";
    case DeviceKind::kMotion:
      return "motion";
    case DeviceKind::kAirQuality:
      return "air_quality";
    case DeviceKind::kCamera:
      return "camera";
    case DeviceKind::kVehicle:
      return "vehicle";
  }
  return "unknown";
}

std::vector<std::string_view> metric_names(DeviceKind kind) {
  switch (kind) {
    case DeviceKind::kTemperature:
      return {"temperature", "battery_level", "signal_strength"};
    case DeviceKind::kHumidity:
      return {"humidity", "temperature", "battery_level", "signal_strength"};
    case DeviceKind::kMotion:
      return {"motion", "lux", "battery_level", "signal_strength"};
    case DeviceKind::kAirQuality:
      return {"co2", "pm25", "voc", "battery_level", "signal_strength"};
    case DeviceKind::kCamera:
      return {"fps", "bitrate_kbps", "storage_used_pct", "signal_strength"};
    case DeviceKind::kVehicle:
      return {"lat", "lon", "speed_kmh", "fuel_pct", "engine_temp", "signal_strength"};
  }
  return {};
}

std::vector<SimDevice> make_fleet(int count, std::string_view prefix, Rng& rng) {
  std::vector<SimDevice> fleet;
  fleet.reserve(static_cast<size_t>(std::max(count, 0)));
  std::discrete_distribution<int> pick_kind(kKindWeights.begin(), kKindWeights.end());
  std::uniform_int_distribution<size_t> pick_site(0, kSites.size() - 1);
  const int width = count >= 100'000 ? 6 : 5;
  for (int i = 0; i < count; ++i) {
    SimDevice d;
    d.kind = static_cast<DeviceKind>(pick_kind(rng));
    d.site = &kSites[pick_site(rng)];
    char num[16];
    std::snprintf(num, sizeof num, "%0*d", width, i + 1);
    d.id =
        std::string(prefix) + "-" + std::string(kKindPrefix[static_cast<int>(d.kind)]) + "-" + num;
    d.battery_powered = d.kind != DeviceKind::kCamera && d.kind != DeviceKind::kVehicle;
    d.battery = d.battery_powered ? uniform(rng, 35, 100) : 100;
    // Most devices drain slowly; a few have a failing battery and drain within days.
    d.drain_pct_per_day = chance(rng, 0.03) ? uniform(rng, 20, 60) : uniform(rng, 0.2, 3);
    d.signal = uniform(rng, -95, -50);
    switch (d.kind) {
      case DeviceKind::kTemperature:
        d.base = uniform(rng, 17, 24);
        break;
      case DeviceKind::kHumidity:
        d.base = uniform(rng, 35, 60);
        break;
      case DeviceKind::kMotion:
        d.base = uniform(rng, 0.05, 0.4);  // chance of motion per reading in office hours
        break;
      case DeviceKind::kAirQuality:
        d.base = uniform(rng, 420, 520);  // outdoor-ish CO2 floor
        break;
      case DeviceKind::kCamera:
        d.base = uniform(rng, 20, 80);  // storage used at start
        break;
      case DeviceKind::kVehicle:
        d.base = uniform(rng, 80, 95);  // engine temperature
        d.fuel = uniform(rng, 30, 100);
        d.heading_rad = uniform(rng, 0, 2 * kPi);
        break;
    }
    d.lat = d.site->lat + normal(rng, 0.01);
    d.lon = d.site->lon + normal(rng, 0.01);
    fleet.push_back(std::move(d));
  }
  return fleet;
}

SimReading sample(SimDevice& d, int64_t ts_ms, double spike_probability, Rng& rng) {
  const double dt_ms = d.last_sample_ms ? std::max<double>(0, ts_ms - d.last_sample_ms) : 0;
  const double dt_days = dt_ms / kMsPerDay;
  d.last_sample_ms = ts_ms;
  if (d.battery_powered) d.battery = std::max(0.0, d.battery - d.drain_pct_per_day * dt_days);
  d.signal = std::clamp(d.signal + normal(rng, 1.5), -120.0, -40.0);
  // Random walk whose spread grows with the square root of elapsed time, pulled back to 0.
  d.walk = 0.98 * d.walk + normal(rng, 0.3 * std::sqrt(std::max(dt_ms / 60'000.0, 0.01)));
  const double phase = day_phase(ts_ms);
  const bool busy = office_hours(ts_ms);

  SimReading r;
  r.ts_ms = ts_ms;
  auto add = [&r](std::string_view name, double v) { r.values.emplace_back(name, v); };
  switch (d.kind) {
    case DeviceKind::kTemperature:
      add("temperature", round_to(d.base + 4 * phase - 2 + d.walk + normal(rng, 0.1), 0.01));
      break;
    case DeviceKind::kHumidity:
      add("humidity",
          std::clamp(round_to(d.base - 12 * phase + 6 + 2 * d.walk + normal(rng, 0.5), 0.1), 0.0,
                     100.0));
      add("temperature", round_to(20 + 4 * phase - 2 + d.walk + normal(rng, 0.1), 0.01));
      break;
    case DeviceKind::kMotion:
      add("motion", chance(rng, busy ? d.base : d.base / 20) ? 1 : 0);
      add("lux", std::max(0.0, round_to(600 * phase + (busy ? 300 : 0) + normal(rng, 20), 1)));
      break;
    case DeviceKind::kAirQuality: {
      const double people = busy ? 1 : 0.1;
      add("co2", round_to(d.base + 500 * people * phase + 30 * d.walk + normal(rng, 10), 1));
      add("pm25", std::max(0.0, round_to(8 + 6 * phase + 2 * d.walk + normal(rng, 1), 0.1)));
      add("voc", std::max(0.0, round_to(120 + 200 * people + 15 * d.walk + normal(rng, 8), 1)));
      break;
    }
    case DeviceKind::kCamera:
      d.base = std::min(99.5, d.base + 0.4 * dt_days * 24 / 24);  // recordings fill the disk
      if (d.base >= 99.5) d.base = 20;                            // retention wipes old footage
      add("fps", std::clamp(round_to(25 + normal(rng, 0.8), 0.1), 0.0, 30.0));
      add("bitrate_kbps", round_to(2500 + 1500 * phase + normal(rng, 120), 1));
      add("storage_used_pct", round_to(d.base, 0.01));
      break;
    case DeviceKind::kVehicle: {
      const bool driving = busy || chance(rng, 0.15);
      const double speed = driving ? std::max(0.0, 45 + 15 * d.walk + normal(rng, 8)) : 0;
      const double hours = dt_ms / 3'600'000.0;
      d.heading_rad += normal(rng, 0.3);
      // Stay within ~30 km of the home site: head home when too far.
      if (std::hypot(d.lat - d.site->lat, d.lon - d.site->lon) > 0.3)
        d.heading_rad = std::atan2(d.site->lon - d.lon, d.site->lat - d.lat);
      const double km = speed * std::min(hours, 0.25);
      d.lat += km / 111.0 * std::cos(d.heading_rad);
      d.lon += km / (111.0 * std::cos(d.lat * kPi / 180)) * std::sin(d.heading_rad);
      d.fuel -= km * 0.08;
      if (d.fuel < 8) d.fuel = 100;  // refuelled
      add("lat", round_to(d.lat, 1e-6));
      add("lon", round_to(d.lon, 1e-6));
      add("speed_kmh", round_to(speed, 0.1));
      add("fuel_pct", round_to(d.fuel, 0.1));
      add("engine_temp", round_to(driving ? d.base + normal(rng, 1.5) : 30 + normal(rng, 2), 0.1));
      break;
    }
  }
  if (d.battery_powered) add("battery_level", round_to(d.battery, 0.1));
  add("signal_strength", round_to(d.signal, 1));

  if (chance(rng, spike_probability)) {
    // A sensor glitch: the first value jumps far outside its physical range.
    auto& v = r.values.front().second;
    v = chance(rng, 0.5) ? v * 10 + 150 : -v * 10 - 150;
    r.spiked = true;
  }
  return r;
}

}  // namespace fp::sim
