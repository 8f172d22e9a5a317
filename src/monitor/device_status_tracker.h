#pragma once
// DeviceStatusTracker: the live status of every device, kept current by deadlines.
//
// Each device has at most one scheduled deadline: the next moment its status can change by
// itself (e.g. last_seen + at_risk_after). A report only moves the device's last_seen; an
// already scheduled, now too early deadline is re-evaluated when it fires and pushed later.
// So reports cost O(1), a status change costs O(log n), and devices that are offline or have
// never reported cost nothing at all: the work grows with status changes, not fleet size.
//
// It also learns each device's reporting cadence (an EWMA of report intervals) and keeps
// O(1) counts per status.
//
// Thread safety: all methods lock an internal mutex; none does I/O.

#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "model/device.h"
#include "monitor/status_policy.h"
#include "util/clock.h"

namespace fp {

struct DeviceLiveState {
  std::string device_id;
  std::string type;
  DeviceStatus status = DeviceStatus::kUnknown;
  std::string status_reason;
  std::optional<int64_t> last_seen_ms;
  std::optional<double> battery_level;
  std::optional<double> signal_strength;
  std::optional<int64_t> cadence_ms;
  int cadence_samples = 0;
};

class DeviceStatusTracker {
 public:
  DeviceStatusTracker(StatusPolicy policy, const Clock& clock);

  // Adds a device (at start-up from the catalog, or when registered). Known facts are taken
  // as they are and the status is re-evaluated now; a changed status is returned so the
  // caller can record it (e.g. a device that went offline while the server was down).
  std::optional<StatusTransition> add(const Device& d);
  void remove(const std::string& device_id);
  // Changes a device's type (and so its thresholds).
  std::optional<StatusTransition> set_type(const std::string& device_id, const std::string& type);
  bool contains(const std::string& device_id) const;

  // Records a report seen at `seen_ms` (server receive time). Unknown devices are ignored
  // (returns nullopt); add them first.
  std::optional<StatusTransition> observe(const std::string& device_id, int64_t seen_ms,
                                          std::optional<double> battery,
                                          std::optional<double> signal);

  // Cluster mode (docs/cluster.md): only the devices `owned` answers true for (those of the
  // partitions this node serves at that moment) have a due deadline acted on; any other due
  // device changes nothing and is looked at again a second later, so a node that wakes from
  // SIGSTOP past its lease flips no status (and so raises no offline alert) for partitions it
  // lost, even before its lease thread has run. Unset = every device (single node). May be
  // set at any time; `owned` runs under the tracker's lock.
  void set_owner_filter(std::function<bool(const std::string& device_id)> owned);

  // Evaluates every device whose deadline is <= now and returns the status changes.
  std::vector<StatusTransition> process_due(int64_t now_ms);
  // The earliest scheduled deadline, or kNoDeadline.
  int64_t next_deadline() const;

  std::optional<DeviceLiveState> get(const std::string& device_id) const;
  // Devices per status, indexed by DeviceStatus. O(1).
  std::array<int64_t, kDeviceStatusCount> counts() const;
  size_t size() const;
  // The devices that never reported (no last_seen, status unknown) counted per type, kept
  // as devices come, report and go (O(1) each): what the KPI sampler counts without reading
  // every device. `newest_created_ms`: the latest created_at of a device added while never
  // seen (the add time when the device had none), never lowered.
  struct NeverSeen {
    std::vector<std::pair<std::string, int64_t>> by_type;  // type order; types with devices
    int64_t devices = 0;                                   // the sum of by_type
    int64_t tracked = 0;  // every device tracked, at the same moment
    int64_t newest_created_ms = INT64_MIN;
  };
  NeverSeen never_seen() const;

  // Calls fn for up to `max` devices (in no particular order) that reported a battery or signal.
  void for_each(size_t max, const std::function<void(const DeviceLiveState&)>& fn) const;
  void clear();

  const StatusPolicy& policy() const { return policy_; }

 private:
  // One device's facts, compact (a registered device costs this plus its map node: ~150 B
  // instead of ~250 B with a DeviceLiveState of four strings and four optionals): the id is the
  // map's key, the type is interned, an absent value is a sentinel (kNone, NaN).
  static constexpr int64_t kNone = std::numeric_limits<int64_t>::min();
  struct Entry {
    int64_t last_seen_ms = kNone;
    int64_t cadence_ms = kNone;
    int64_t scheduled_ms = kNoDeadline;  // deadline currently in the heap for this device
    double battery_level = std::numeric_limits<double>::quiet_NaN();
    double signal_strength = std::numeric_limits<double>::quiet_NaN();
    const std::string* type = nullptr;  // into types_; never null once added
    std::string status_reason;
    int32_t cadence_samples = 0;
    DeviceStatus status = DeviceStatus::kUnknown;
  };
  using Devices = std::unordered_map<std::string, Entry>;
  struct Deadline {
    int64_t at_ms;
    std::string device_id;
    bool operator>(const Deadline& o) const { return at_ms > o.at_ms; }
  };

  static DeviceLiveState state_of(const std::string& device_id, const Entry& e);
  const std::string* intern_type(const std::string& type);  // under mu_
  std::optional<StatusTransition> reevaluate(Devices::value_type& d, int64_t now_ms);
  void schedule(Devices::value_type& d, int64_t at_ms);
  void set_status(Entry& e, DeviceStatus s);
  static bool is_never_seen(const Entry& e) {
    return e.last_seen_ms == kNone && e.status == DeviceStatus::kUnknown;
  }
  // Moves `e` in or out of never_seen_ when is_never_seen(e) changed from `was` (under mu_).
  void count_never_seen(const Entry& e, bool was);

  const StatusPolicy policy_;
  const Clock& clock_;

  mutable std::mutex mu_;
  Devices devices_;                        // guarded by mu_
  std::unordered_set<std::string> types_;  // guarded by mu_; only grows (few types)
  std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> deadlines_;  // mu_
  std::array<int64_t, kDeviceStatusCount> counts_{};  // guarded by mu_
  std::function<bool(const std::string&)> owned_;     // guarded by mu_; empty = every device
  std::unordered_map<const std::string*, int64_t> never_seen_;  // mu_: by interned type
  int64_t newest_never_seen_created_ms_ = INT64_MIN;            // mu_
};

}  // namespace fp
