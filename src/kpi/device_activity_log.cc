#include "kpi/device_activity_log.h"

#include <algorithm>

namespace fp {
namespace {
constexpr int64_t kHourMs = 3'600'000;

int64_t floor_div(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}
}  // namespace

DeviceActivityLog::Bucket& DeviceActivityLog::bucket(Entry& e, int64_t at_ms) {
  const int64_t hour = floor_div(at_ms, kHourMs);
  Bucket& b = e.hours[static_cast<size_t>(((hour % kHours) + kHours) % kHours)];
  if (b.hour != hour) b = {hour, {}};
  return b;
}

void DeviceActivityLog::record_message(const std::string& device, int64_t at_ms, uint64_t bytes) {
  std::lock_guard lock(mu_);
  ActivityTotals& t = bucket(devices_[device], at_ms).totals;
  ++t.messages;
  t.bytes += bytes;
}

void DeviceActivityLog::record_rejected(const std::string& device, int64_t at_ms, uint64_t count) {
  std::lock_guard lock(mu_);
  bucket(devices_[device], at_ms).totals.rejected += count;
}

void DeviceActivityLog::record_response_time(const std::string& device, int64_t at_ms, double ms) {
  std::lock_guard lock(mu_);
  Entry& e = devices_[device];
  if (e.response.size() < kResponseSamples) {
    e.response.emplace_back(at_ms, static_cast<float>(ms));
  } else {
    e.response[e.response_next] = {at_ms, static_cast<float>(ms)};
    e.response_next = (e.response_next + 1) % kResponseSamples;
  }
}

void DeviceActivityLog::record_battery(const std::string& device, int64_t at_ms, double level) {
  std::lock_guard lock(mu_);
  Entry& e = devices_[device];
  if (!e.battery.empty() && at_ms - e.last_battery_ms < kBatterySpacingMs) return;
  e.last_battery_ms = at_ms;
  if (e.battery.size() < kBatterySamples) {
    e.battery.push_back({at_ms, level});
  } else {
    e.battery[e.battery_next] = {at_ms, level};
    e.battery_next = (e.battery_next + 1) % kBatterySamples;
  }
}

void DeviceActivityLog::forget(const std::string& device) {
  std::lock_guard lock(mu_);
  devices_.erase(device);
}

void DeviceActivityLog::clear() {
  std::lock_guard lock(mu_);
  devices_.clear();
}

DeviceActivity DeviceActivityLog::collect(const Entry& e, int64_t since_ms) {
  DeviceActivity a;
  const int64_t since_hour = floor_div(since_ms, kHourMs);
  for (const Bucket& b : e.hours) {
    if (b.hour < since_hour) continue;
    a.totals.messages += b.totals.messages;
    a.totals.bytes += b.totals.bytes;
    a.totals.rejected += b.totals.rejected;
  }
  for (const auto& [at, ms] : e.response)
    if (at >= since_ms) a.response_ms.push_back(ms);
  for (size_t i = 0; i < e.battery.size(); ++i) {
    const BatterySample& s = e.battery[(e.battery_next + i) % e.battery.size()];
    if (s.at_ms >= since_ms) a.battery.push_back(s);
  }
  return a;
}

DeviceActivity DeviceActivityLog::activity(const std::string& device, int64_t since_ms) const {
  std::lock_guard lock(mu_);
  auto it = devices_.find(device);
  if (it == devices_.end()) return {};
  return collect(it->second, since_ms);
}

}  // namespace fp
