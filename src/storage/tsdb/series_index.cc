#include "storage/tsdb/series_index.h"

#include <algorithm>
#include <mutex>

namespace fp::tsdb {

SeriesId SeriesIndex::get_or_create(std::string_view device, std::string_view metric,
                                    bool* created) {
  if (created) *created = false;
  {
    std::shared_lock lock(mu_);
    auto d = by_device_.find(device);
    if (d != by_device_.end()) {
      auto m = d->second.find(metric);
      if (m != d->second.end()) return m->second;
    }
  }
  std::unique_lock lock(mu_);
  auto d = by_device_.find(device);
  if (d == by_device_.end()) d = by_device_.emplace(std::string(device), MetricMap{}).first;
  auto m = d->second.find(metric);
  if (m != d->second.end()) return m->second;
  const auto id = static_cast<SeriesId>(keys_.size());
  keys_.push_back({std::string(device), std::string(metric)});
  d->second.emplace(std::string(metric), id);
  if (created) *created = true;
  return id;
}

std::optional<SeriesId> SeriesIndex::find(std::string_view device, std::string_view metric) const {
  std::shared_lock lock(mu_);
  auto d = by_device_.find(device);
  if (d == by_device_.end()) return std::nullopt;
  auto m = d->second.find(metric);
  if (m == d->second.end()) return std::nullopt;
  return m->second;
}

void SeriesIndex::find_pairs(std::span<const std::string> devices,
                             std::span<const std::string> metrics, std::span<const uint64_t> pairs,
                             SeriesId* out) const {
  std::shared_lock lock(mu_);
  uint64_t last_device = UINT64_MAX;
  const MetricMap* map = nullptr;
  for (size_t i = 0; i < pairs.size(); ++i) {
    const uint64_t d = pairs[i] >> 32;
    if (d != last_device) {
      last_device = d;
      auto it = by_device_.find(std::string_view(devices[d]));
      map = it == by_device_.end() ? nullptr : &it->second;
    }
    out[i] = kNoSeries;
    if (!map) continue;
    auto m = map->find(std::string_view(metrics[pairs[i] & 0xffffffffu]));
    if (m != map->end()) out[i] = m->second;
  }
}

std::vector<std::pair<std::string, SeriesId>> SeriesIndex::metrics_of(
    std::string_view device) const {
  std::shared_lock lock(mu_);
  std::vector<std::pair<std::string, SeriesId>> out;
  auto d = by_device_.find(device);
  if (d == by_device_.end()) return out;
  out.assign(d->second.begin(), d->second.end());
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
  return id < keys_.size() ? keys_[id] : SeriesKey{};
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
  for (const auto& [m, id] : d->second) ids.push_back(id);
  by_device_.erase(d);
  removals_.fetch_add(1, std::memory_order_release);
  return ids;
}

void SeriesIndex::clear() {
  std::unique_lock lock(mu_);
  by_device_.clear();
  keys_.clear();
  removals_.fetch_add(1, std::memory_order_release);
}

}  // namespace fp::tsdb
