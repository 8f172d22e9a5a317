#include "monitor/device_status_tracker.h"

namespace fp {
namespace {
constexpr double kCadenceAlpha = 0.2;  // weight of the newest interval in the EWMA
constexpr int64_t kMinCadenceIntervalMs = 1000;
constexpr int64_t kNotOwnedRetryMs = 1000;  // a due device of a partition not served now
}  // namespace

DeviceStatusTracker::DeviceStatusTracker(StatusPolicy policy, const Clock& clock)
    : policy_(std::move(policy)), clock_(clock) {}

void DeviceStatusTracker::set_status(Entry& e, DeviceStatus s) {
  --counts_[static_cast<size_t>(e.state.status)];
  e.state.status = s;
  ++counts_[static_cast<size_t>(s)];
}

void DeviceStatusTracker::schedule(Entry& e, int64_t at_ms) {
  // Only an earlier deadline needs a heap entry: a later one is found when the current fires.
  if (at_ms == kNoDeadline || at_ms >= e.scheduled_ms) return;
  e.scheduled_ms = at_ms;
  deadlines_.push({at_ms, e.state.device_id});
}

std::optional<StatusTransition> DeviceStatusTracker::reevaluate(Entry& e, int64_t now_ms) {
  StatusFacts facts{
      e.state.last_seen_ms, e.state.battery_level,
      e.state.cadence_samples >= policy_.cadence_min_samples ? e.state.cadence_ms : std::nullopt};
  StatusEvaluation ev = evaluate_status(facts, policy_.for_type(e.state.type), policy_, now_ms);
  schedule(e, ev.next_change_ms);
  if (ev.status == e.state.status) return std::nullopt;
  e.state.status_reason = ev.reason;
  StatusTransition t{e.state.device_id, e.state.status, ev.status, std::move(ev.reason), now_ms};
  set_status(e, ev.status);
  return t;
}

std::optional<StatusTransition> DeviceStatusTracker::add(const Device& d) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = devices_.try_emplace(d.device_id);
  Entry& e = it->second;
  if (!inserted) return std::nullopt;
  e.state.device_id = d.device_id;
  e.state.type = d.type;
  e.state.status = d.status;
  e.state.status_reason = d.status_reason;
  e.state.last_seen_ms = d.last_seen_ms;
  e.state.battery_level = d.battery_level;
  e.state.signal_strength = d.signal_strength;
  ++counts_[static_cast<size_t>(e.state.status)];
  return reevaluate(e, clock_.now_ms());
}

void DeviceStatusTracker::remove(const std::string& device_id) {
  std::lock_guard lock(mu_);
  auto it = devices_.find(device_id);
  if (it == devices_.end()) return;
  --counts_[static_cast<size_t>(it->second.state.status)];
  devices_.erase(it);  // its heap entry, if any, is skipped when it fires
}

std::optional<StatusTransition> DeviceStatusTracker::set_type(const std::string& device_id,
                                                              const std::string& type) {
  std::lock_guard lock(mu_);
  auto it = devices_.find(device_id);
  if (it == devices_.end() || it->second.state.type == type) return std::nullopt;
  it->second.state.type = type;
  return reevaluate(it->second, clock_.now_ms());
}

bool DeviceStatusTracker::contains(const std::string& device_id) const {
  std::lock_guard lock(mu_);
  return devices_.count(device_id) != 0;
}

std::optional<StatusTransition> DeviceStatusTracker::observe(const std::string& device_id,
                                                             int64_t seen_ms,
                                                             std::optional<double> battery,
                                                             std::optional<double> signal) {
  std::lock_guard lock(mu_);
  auto it = devices_.find(device_id);
  if (it == devices_.end()) return std::nullopt;
  Entry& e = it->second;
  DeviceLiveState& s = e.state;
  // Reports closer together than kMinCadenceIntervalMs are bursts or retries, not the
  // device's rhythm: they must not teach it a cadence that makes every pause look late.
  if (s.last_seen_ms && seen_ms - *s.last_seen_ms >= kMinCadenceIntervalMs) {
    const int64_t interval = seen_ms - *s.last_seen_ms;
    s.cadence_ms =
        s.cadence_ms
            ? static_cast<int64_t>(kCadenceAlpha * interval + (1 - kCadenceAlpha) * *s.cadence_ms)
            : interval;
    ++s.cadence_samples;
  }
  if (!s.last_seen_ms || seen_ms > *s.last_seen_ms) s.last_seen_ms = seen_ms;
  if (battery) s.battery_level = battery;
  if (signal) s.signal_strength = signal;
  return reevaluate(e, clock_.now_ms());
}

void DeviceStatusTracker::set_owner_filter(std::function<bool(const std::string&)> owned) {
  std::lock_guard lock(mu_);
  owned_ = std::move(owned);
}

std::vector<StatusTransition> DeviceStatusTracker::process_due(int64_t now_ms) {
  std::vector<StatusTransition> out;
  std::vector<Entry*> not_owned;
  std::lock_guard lock(mu_);
  while (!deadlines_.empty() && deadlines_.top().at_ms <= now_ms) {
    Deadline d = deadlines_.top();
    deadlines_.pop();
    auto it = devices_.find(d.device_id);
    if (it == devices_.end() || it->second.scheduled_ms != d.at_ms) continue;  // stale entry
    it->second.scheduled_ms = kNoDeadline;
    if (owned_ && !owned_(d.device_id)) {
      not_owned.push_back(&it->second);
      continue;
    }
    if (auto t = reevaluate(it->second, now_ms)) out.push_back(std::move(*t));
  }
  for (Entry* e : not_owned) schedule(*e, now_ms + kNotOwnedRetryMs);
  return out;
}

int64_t DeviceStatusTracker::next_deadline() const {
  std::lock_guard lock(mu_);
  return deadlines_.empty() ? kNoDeadline : deadlines_.top().at_ms;
}

std::optional<DeviceLiveState> DeviceStatusTracker::get(const std::string& device_id) const {
  std::lock_guard lock(mu_);
  auto it = devices_.find(device_id);
  if (it == devices_.end()) return std::nullopt;
  return it->second.state;
}

std::array<int64_t, kDeviceStatusCount> DeviceStatusTracker::counts() const {
  std::lock_guard lock(mu_);
  return counts_;
}

size_t DeviceStatusTracker::size() const {
  std::lock_guard lock(mu_);
  return devices_.size();
}

void DeviceStatusTracker::for_each(size_t max,
                                   const std::function<void(const DeviceLiveState&)>& fn) const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [id, e] : devices_) {
    if (n >= max) break;
    if (!e.state.battery_level && !e.state.signal_strength) continue;
    fn(e.state);
    ++n;
  }
}

void DeviceStatusTracker::clear() {
  std::lock_guard lock(mu_);
  devices_.clear();
  deadlines_ = {};
  counts_ = {};
}

}  // namespace fp
