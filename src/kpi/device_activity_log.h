#pragma once
// DeviceActivityLog: the per-device facts KPIs need that neither the catalog nor the telemetry
// store keeps: messages, bytes and rejections per hour (the last 25 hours), a bounded sample
// of response times (receive time minus the device's own `ts`), and a compact battery series
// (one sample per 30 minutes, the last 48). In memory only: after a restart they start again
// (status-based KPIs come from the catalog's status history and are not affected).
//
// Memory: about 1.3 KB per device that reported. Thread safety: every method locks mu_; the
// ingest commit thread records through it, so each call is O(1) and does no I/O.

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace fp {

struct ActivityTotals {
  uint64_t messages = 0;  // accepted reports (heartbeats, telemetry messages)
  uint64_t bytes = 0;
  uint64_t rejected = 0;
};

struct BatterySample {
  int64_t at_ms;
  double level;
};

struct DeviceActivity {
  ActivityTotals totals;               // within the asked window (at hour granularity)
  std::vector<double> response_ms;     // samples within the window
  std::vector<BatterySample> battery;  // oldest first, within the window
};

class DeviceActivityLog {
 public:
  static constexpr int kHours = 25;
  static constexpr int kResponseSamples = 16;
  static constexpr int kBatterySamples = 48;
  static constexpr int64_t kBatterySpacingMs = 30 * 60 * 1000;

  // A report accepted at `at_ms` (server time) of `bytes` bytes.
  void record_message(const std::string& device, int64_t at_ms, uint64_t bytes);
  void record_rejected(const std::string& device, int64_t at_ms, uint64_t count = 1);
  void record_response_time(const std::string& device, int64_t at_ms, double ms);
  void record_battery(const std::string& device, int64_t at_ms, double level);
  void forget(const std::string& device);
  void clear();

  // What happened in [since_ms, now]: hourly buckets that end after since_ms count whole.
  DeviceActivity activity(const std::string& device, int64_t since_ms) const;
  // Calls fn(device, activity) for every device, in one pass under the lock.
  template <typename Fn>
  void for_each(int64_t since_ms, Fn&& fn) const {
    std::lock_guard lock(mu_);
    for (const auto& [id, e] : devices_) fn(id, collect(e, since_ms));
  }

 private:
  struct Bucket {
    int64_t hour = -1;  // epoch hour this slot holds
    ActivityTotals totals;
  };
  struct Entry {
    std::array<Bucket, kHours> hours;
    std::vector<std::pair<int64_t, float>> response;  // ring of (at, ms)
    size_t response_next = 0;
    std::vector<BatterySample> battery;  // ring
    size_t battery_next = 0;
    int64_t last_battery_ms = 0;
  };
  Bucket& bucket(Entry& e, int64_t at_ms);
  static DeviceActivity collect(const Entry& e, int64_t since_ms);

  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> devices_;  // guarded by mu_
};

}  // namespace fp
