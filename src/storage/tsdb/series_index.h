#pragma once
// SeriesIndex: assigns a dense SeriesId to each (device, metric) pair and answers which
// metrics a device has. Ids are stable for the life of the process (rebuilt on start from
// the WAL and blocks), never reused.
//
// Layout: metric names are interned once (a MetricIx each); a device holds a flat array of
// (MetricIx, SeriesId), 8 bytes a series, in metric-name order. A lookup hashes the device
// once and scans that short array for an integer, instead of walking a std::map of strings.
//
// Thread safety: lookups take a shared lock, creation an exclusive one.

#include <atomic>
#include <cstdint>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fp::tsdb {

using SeriesId = uint32_t;
inline constexpr SeriesId kNoSeries = UINT32_MAX;  // "not resolved" in id tables

struct SeriesKey {
  std::string device;
  std::string metric;
};

class SeriesIndex {
 public:
  // The id of (device, metric), creating it when new (*created tells which).
  SeriesId get_or_create(std::string_view device, std::string_view metric, bool* created = nullptr);
  std::optional<SeriesId> find(std::string_view device, std::string_view metric) const;
  // Looks up many pairs under one shared lock, creating nothing: for each packed pair
  // (device index << 32 | metric index) of `pairs`, out[i] is the id of (devices[d],
  // metrics[m]) or kNoSeries. Consecutive pairs of one device find the device once.
  void find_pairs(std::span<const std::string> devices, std::span<const std::string> metrics,
                  std::span<const uint64_t> pairs, SeriesId* out) const;
  // The device's metrics, sorted by name.
  std::vector<std::pair<std::string, SeriesId>> metrics_of(std::string_view device) const;
  // Calls fn(metric, id) for the device's metrics in name order, without copying; fn runs
  // under the index's shared lock and must not call back into the index.
  template <typename Fn>
  void for_each_metric(std::string_view device, Fn&& fn) const {
    std::shared_lock lock(mu_);
    auto d = by_device_.find(device);
    if (d == by_device_.end()) return;
    for (const Slot& s : d->second) fn(std::string_view(metric_names_[s.metric]), s.id);
  }
  // Calls fn(device, metric, id) for every series not removed, in id order: one sequential
  // pass over the ids (and so over the head's per-id slots), no lookup per device. fn runs
  // under the index's shared lock and must not call back into the index.
  template <typename Fn>
  void for_each_series(Fn&& fn) const {
    std::shared_lock lock(mu_);
    for (size_t id = 0; id < keys_.size(); ++id)
      if (live_[id])
        fn(std::string_view(*keys_[id].device), std::string_view(metric_names_[keys_[id].metric]),
           static_cast<SeriesId>(id));
  }
  bool has_device(std::string_view device) const {
    std::shared_lock lock(mu_);
    auto d = by_device_.find(device);
    return d != by_device_.end() && !d->second.empty();
  }
  // Every device that has at least one series, sorted.
  std::vector<std::string> devices() const;
  SeriesKey key(SeriesId id) const;
  size_t size() const;
  // Forgets a device's series (their ids stay allocated but unreachable).
  std::vector<SeriesId> remove_device(std::string_view device);
  void clear();
  // Bumped (under the exclusive lock) by every remove_device() and clear(): ids looked up
  // after reading it hold while it has not changed. Any thread.
  uint64_t removals() const { return removals_.load(std::memory_order_acquire); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using MetricIx = uint32_t;
  struct Slot {
    MetricIx metric;
    SeriesId id;
  };
  // A device's series, in metric-name order.
  using Slots = std::vector<Slot>;
  // A series' names: its device's key in by_device_ (a node's key never moves; a removed
  // device's node stays, with no slots, so this never dangles) and its interned metric.
  // 16 bytes a series instead of two strings.
  struct KeyRef {
    const std::string* device;
    MetricIx metric;
  };
  static constexpr MetricIx kNoMetric = UINT32_MAX;

  MetricIx metric_ix(std::string_view metric) const;  // needs mu_; kNoMetric when unknown
  // The slot of `metric` (interned as `ix`) in `slots`, or null.
  const Slot* find_slot(const Slots& slots, MetricIx ix) const;

  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, Slots, Hash, std::equal_to<>> by_device_;     // mu_
  std::unordered_map<std::string, MetricIx, Hash, std::equal_to<>> metric_ix_;  // mu_
  std::vector<std::string> metric_names_;  // mu_; by MetricIx, never shrinks but in clear()
  std::vector<KeyRef> keys_;               // mu_; by SeriesId, removed ones too
  std::vector<bool> live_;                 // mu_; by SeriesId: false once removed
  std::atomic<uint64_t> removals_{0};
};

}  // namespace fp::tsdb
