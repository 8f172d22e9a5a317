#pragma once
// SeriesIndex: assigns a dense SeriesId to each (device, metric) pair and answers which
// metrics a device has. Ids are stable for the life of the process (rebuilt on start from
// the WAL and blocks), never reused.
//
// Thread safety: lookups take a shared lock, creation an exclusive one.

#include <cstdint>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fp::tsdb {

using SeriesId = uint32_t;

struct SeriesKey {
  std::string device;
  std::string metric;
};

class SeriesIndex {
 public:
  // The id of (device, metric), creating it when new (*created tells which).
  SeriesId get_or_create(std::string_view device, std::string_view metric, bool* created = nullptr);
  std::optional<SeriesId> find(std::string_view device, std::string_view metric) const;
  // The device's metrics, sorted by name.
  std::vector<std::pair<std::string, SeriesId>> metrics_of(std::string_view device) const;
  // Every device that has at least one series, sorted.
  std::vector<std::string> devices() const;
  SeriesKey key(SeriesId id) const;
  size_t size() const;
  // Forgets a device's series (their ids stay allocated but unreachable).
  std::vector<SeriesId> remove_device(std::string_view device);
  void clear();

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using MetricMap = std::map<std::string, SeriesId, std::less<>>;

  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, MetricMap, Hash, std::equal_to<>> by_device_;  // mu_
  std::vector<SeriesKey> keys_;                                                  // mu_
};

}  // namespace fp::tsdb
