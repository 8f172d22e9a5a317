#include "storage/tsdb/series_index.h"

#include <algorithm>
#include <mutex>

namespace fp::tsdb {

SeriesIndex::MetricIx SeriesIndex::metric_ix(std::string_view metric) const {
  auto m = metric_ix_.find(metric);
  return m == metric_ix_.end() ? kNoMetric : m->second;
}

const SeriesIndex::Slot* SeriesIndex::find_slot(const Slots& slots, MetricIx ix) const {
  if (ix == kNoMetric) return nullptr;
  // A device has a handful of metrics: an integer scan beats comparing names. Past that,
  // a binary search by name (the slots' order).
  if (slots.size() <= 32) {
    for (const Slot& s : slots)
      if (s.metric == ix) return &s;
    return nullptr;
  }
  const std::string& name = metric_names_[ix];
  auto it = std::lower_bound(slots.begin(), slots.end(), name, [&](const Slot& s, const auto& n) {
    return metric_names_[s.metric] < n;
  });
  return it != slots.end() && it->metric == ix ? &*it : nullptr;
}

SeriesId SeriesIndex::get_or_create(std::string_view device, std::string_view metric,
                                    bool* created) {
  if (created) *created = false;
  {
    std::shared_lock lock(mu_);
    auto d = by_device_.find(device);
    if (d != by_device_.end())
      if (const Slot* s = find_slot(d->second, metric_ix(metric))) return s->id;
  }
  std::unique_lock lock(mu_);
  auto d = by_device_.find(device);
  if (d == by_device_.end()) d = by_device_.emplace(std::string(device), Slots{}).first;
  MetricIx ix = metric_ix(metric);
  if (ix == kNoMetric) {
    ix = static_cast<MetricIx>(metric_names_.size());
    metric_names_.emplace_back(metric);
    metric_ix_.emplace(std::string(metric), ix);
  }
  Slots& slots = d->second;
  if (const Slot* s = find_slot(slots, ix)) return s->id;
  const auto id = static_cast<SeriesId>(keys_.size());
  keys_.push_back({&d->first, ix});
  live_.push_back(true);
  auto at = std::lower_bound(slots.begin(), slots.end(), metric, [&](const Slot& s, auto n) {
    return std::string_view(metric_names_[s.metric]) < n;
  });
  slots.insert(at, Slot{ix, id});
  if (created) *created = true;
  return id;
}

std::optional<SeriesId> SeriesIndex::find(std::string_view device, std::string_view metric) const {
  std::shared_lock lock(mu_);
  auto d = by_device_.find(device);
  if (d == by_device_.end()) return std::nullopt;
  const Slot* s = find_slot(d->second, metric_ix(metric));
  if (!s) return std::nullopt;
  return s->id;
}

void SeriesIndex::find_pairs(std::span<const std::string> devices,
                             std::span<const std::string> metrics, std::span<const uint64_t> pairs,
                             SeriesId* out) const {
  std::shared_lock lock(mu_);
  // The batch's metric names are interned once here, not once per pair.
  std::vector<MetricIx> ixs(metrics.size());
  for (size_t m = 0; m < metrics.size(); ++m) ixs[m] = metric_ix(metrics[m]);
  uint64_t last_device = UINT64_MAX;
  const Slots* slots = nullptr;
  for (size_t i = 0; i < pairs.size(); ++i) {
    const uint64_t d = pairs[i] >> 32;
    if (d != last_device) {
      last_device = d;
      auto it = by_device_.find(std::string_view(devices[d]));
      slots = it == by_device_.end() ? nullptr : &it->second;
    }
    out[i] = kNoSeries;
    if (!slots) continue;
    if (const Slot* s = find_slot(*slots, ixs[pairs[i] & 0xffffffffu])) out[i] = s->id;
  }
}

std::vector<std::pair<std::string, SeriesId>> SeriesIndex::metrics_of(
    std::string_view device) const {
  std::shared_lock lock(mu_);
  std::vector<std::pair<std::string, SeriesId>> out;
  auto d = by_device_.find(device);
  if (d == by_device_.end()) return out;
  out.reserve(d->second.size());
  for (const Slot& s : d->second) out.emplace_back(metric_names_[s.metric], s.id);
  return out;
}

std::vector<std::string> SeriesIndex::devices() const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  out.reserve(by_device_.size());
  for (const auto& [d, m] : by_device_)
    if (!m.empty()) out.push_back(d);
  std::sort(out.begin(), out.end());
  return out;
}

SeriesKey SeriesIndex::key(SeriesId id) const {
  std::shared_lock lock(mu_);
  if (id >= keys_.size()) return {};
  return {*keys_[id].device, metric_names_[keys_[id].metric]};
}

size_t SeriesIndex::size() const {
  std::shared_lock lock(mu_);
  size_t n = 0;
  for (const auto& [d, m] : by_device_) n += m.size();
  return n;
}

std::vector<SeriesId> SeriesIndex::remove_device(std::string_view device) {
  std::unique_lock lock(mu_);
  std::vector<SeriesId> ids;
  auto d = by_device_.find(device);
  if (d == by_device_.end()) return ids;
  for (const Slot& s : d->second) {
    ids.push_back(s.id);
    live_[s.id] = false;
  }
  // The node stays (keys_ of the removed ids point at its name); with no slots the device
  // counts as absent everywhere (has_device, devices, size) until it gets series again.
  Slots().swap(d->second);
  removals_.fetch_add(1, std::memory_order_release);
  return ids;
}

void SeriesIndex::clear() {
  std::unique_lock lock(mu_);
  by_device_.clear();
  metric_ix_.clear();
  metric_names_.clear();
  keys_.clear();
  live_.clear();
  removals_.fetch_add(1, std::memory_order_release);
}

}  // namespace fp::tsdb
