#include "monitor/device_status_tracker.h"

#include <algorithm>
#include <cmath>

namespace fp {
namespace {
constexpr double kCadenceAlpha = 0.2;  // weight of the newest interval in the EWMA
constexpr int64_t kMinCadenceIntervalMs = 1000;
constexpr int64_t kNotOwnedRetryMs = 1000;  // a due device of a partition not served now

template <typename T>
std::optional<T> present(int64_t v, int64_t none) {
  return v == none ? std::nullopt : std::optional<T>(v);
}
std::optional<double> present(double v) {
  return std::isnan(v) ? std::nullopt : std::optional<double>(v);
}
}  // namespace

DeviceStatusTracker::DeviceStatusTracker(StatusPolicy policy, const Clock& clock)
    : policy_(std::move(policy)), clock_(clock) {}

DeviceLiveState DeviceStatusTracker::state_of(const std::string& device_id, const Entry& e) {
  DeviceLiveState s;
  s.device_id = device_id;
  s.type = *e.type;
  s.status = e.status;
  s.status_reason = e.status_reason;
  s.last_seen_ms = present<int64_t>(e.last_seen_ms, kNone);
  s.battery_level = present(e.battery_level);
  s.signal_strength = present(e.signal_strength);
  s.cadence_ms = present<int64_t>(e.cadence_ms, kNone);
  s.cadence_samples = e.cadence_samples;
  return s;
}

const std::string* DeviceStatusTracker::intern_type(const std::string& type) {
  return &*types_.insert(type).first;
}

void DeviceStatusTracker::set_status(Entry& e, DeviceStatus s) {
  const bool was = is_never_seen(e);
  --counts_[static_cast<size_t>(e.status)];
  e.status = s;
  ++counts_[static_cast<size_t>(s)];
  count_never_seen(e, was);
}

void DeviceStatusTracker::count_never_seen(const Entry& e, bool was) {
  const bool is = is_never_seen(e);
  if (is == was) return;
  auto it = never_seen_.try_emplace(e.type, 0).first;
  it->second += is ? 1 : -1;
  if (it->second == 0) never_seen_.erase(it);
}

void DeviceStatusTracker::schedule(Devices::value_type& d, int64_t at_ms) {
  // Only an earlier deadline needs a heap entry: a later one is found when the current fires.
  Entry& e = d.second;
  if (at_ms == kNoDeadline || at_ms >= e.scheduled_ms) return;
  e.scheduled_ms = at_ms;
  deadlines_.push({at_ms, d.first});
}

std::optional<StatusTransition> DeviceStatusTracker::reevaluate(Devices::value_type& d,
                                                                int64_t now_ms) {
  Entry& e = d.second;
  StatusFacts facts{present<int64_t>(e.last_seen_ms, kNone), present(e.battery_level),
                    e.cadence_samples >= policy_.cadence_min_samples
                        ? present<int64_t>(e.cadence_ms, kNone)
                        : std::nullopt};
  StatusEvaluation ev = evaluate_status(facts, policy_.for_type(*e.type), policy_, now_ms);
  schedule(d, ev.next_change_ms);
  if (ev.status == e.status) return std::nullopt;
  e.status_reason = ev.reason;
  StatusTransition t{d.first, e.status, ev.status, std::move(ev.reason), now_ms};
  set_status(e, ev.status);
  return t;
}

std::optional<StatusTransition> DeviceStatusTracker::add(const Device& d) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = devices_.try_emplace(d.device_id);
  Entry& e = it->second;
  if (!inserted) return std::nullopt;
  e.type = intern_type(d.type);
  e.status = d.status;
  e.status_reason = d.status_reason;
  e.last_seen_ms = d.last_seen_ms.value_or(kNone);
  e.battery_level = d.battery_level.value_or(std::numeric_limits<double>::quiet_NaN());
  e.signal_strength = d.signal_strength.value_or(std::numeric_limits<double>::quiet_NaN());
  ++counts_[static_cast<size_t>(e.status)];
  count_never_seen(e, false);
  if (is_never_seen(e))
    newest_never_seen_created_ms_ = std::max(
        newest_never_seen_created_ms_, d.created_at_ms > 0 ? d.created_at_ms : clock_.now_ms());
  return reevaluate(*it, clock_.now_ms());
}

void DeviceStatusTracker::remove(const std::string& device_id) {
  std::lock_guard lock(mu_);
  auto it = devices_.find(device_id);
  if (it == devices_.end()) return;
  --counts_[static_cast<size_t>(it->second.status)];
  Entry gone = it->second;
  gone.last_seen_ms = 0;  // seen: leaves never_seen_
  count_never_seen(gone, is_never_seen(it->second));
  devices_.erase(it);  // its heap entry, if any, is skipped when it fires
}

std::optional<StatusTransition> DeviceStatusTracker::set_type(const std::string& device_id,
                                                              const std::string& type) {
  std::lock_guard lock(mu_);
  auto it = devices_.find(device_id);
  if (it == devices_.end() || *it->second.type == type) return std::nullopt;
  const bool never_seen = is_never_seen(it->second);
  count_never_seen(Entry{.last_seen_ms = 0, .type = it->second.type}, never_seen);
  it->second.type = intern_type(type);
  count_never_seen(it->second, false);
  return reevaluate(*it, clock_.now_ms());
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
  const bool never_seen = is_never_seen(e);
  // Reports closer together than kMinCadenceIntervalMs are bursts or retries, not the
  // device's rhythm: they must not teach it a cadence that makes every pause look late.
  if (e.last_seen_ms != kNone && seen_ms - e.last_seen_ms >= kMinCadenceIntervalMs) {
    const int64_t interval = seen_ms - e.last_seen_ms;
    e.cadence_ms =
        e.cadence_ms != kNone
            ? static_cast<int64_t>(kCadenceAlpha * interval + (1 - kCadenceAlpha) * e.cadence_ms)
            : interval;
    ++e.cadence_samples;
  }
  if (e.last_seen_ms == kNone || seen_ms > e.last_seen_ms) e.last_seen_ms = seen_ms;
  if (battery) e.battery_level = *battery;
  if (signal) e.signal_strength = *signal;
  count_never_seen(e, never_seen);
  return reevaluate(*it, clock_.now_ms());
}

void DeviceStatusTracker::set_owner_filter(std::function<bool(const std::string&)> owned) {
  std::lock_guard lock(mu_);
  owned_ = std::move(owned);
}

std::vector<StatusTransition> DeviceStatusTracker::process_due(int64_t now_ms) {
  std::vector<StatusTransition> out;
  std::vector<Devices::value_type*> not_owned;
  std::lock_guard lock(mu_);
  while (!deadlines_.empty() && deadlines_.top().at_ms <= now_ms) {
    Deadline d = deadlines_.top();
    deadlines_.pop();
    auto it = devices_.find(d.device_id);
    if (it == devices_.end() || it->second.scheduled_ms != d.at_ms) continue;  // stale entry
    it->second.scheduled_ms = kNoDeadline;
    if (owned_ && !owned_(d.device_id)) {
      not_owned.push_back(&*it);
      continue;
    }
    if (auto t = reevaluate(*it, now_ms)) out.push_back(std::move(*t));
  }
  for (Devices::value_type* e : not_owned) schedule(*e, now_ms + kNotOwnedRetryMs);
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
  return state_of(it->first, it->second);
}

std::array<int64_t, kDeviceStatusCount> DeviceStatusTracker::counts() const {
  std::lock_guard lock(mu_);
  return counts_;
}

DeviceStatusTracker::NeverSeen DeviceStatusTracker::never_seen() const {
  std::lock_guard lock(mu_);
  NeverSeen out;
  for (const auto& [type, n] : never_seen_) {
    out.by_type.emplace_back(*type, n);
    out.devices += n;
  }
  std::sort(out.by_type.begin(), out.by_type.end());
  out.newest_created_ms = newest_never_seen_created_ms_;
  out.tracked = static_cast<int64_t>(devices_.size());
  return out;
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
    if (std::isnan(e.battery_level) && std::isnan(e.signal_strength)) continue;
    fn(state_of(id, e));
    ++n;
  }
}

void DeviceStatusTracker::clear() {
  std::lock_guard lock(mu_);
  devices_.clear();
  deadlines_ = {};
  counts_ = {};
  never_seen_.clear();
}

}  // namespace fp
