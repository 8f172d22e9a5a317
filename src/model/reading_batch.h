#pragma once
// ReadingBatch: the decoded readings of one request or message, ready for the commit path.
// Device ids and metric names are interned once per batch, so a point is 24 bytes and adding
// one allocates nothing (amortised). String values are kept as device attributes.
//
// A point the device sent without a timestamp is added with add_unstamped(): its ts_ms holds
// the receive time until the commit thread gives it its server timestamp (the first free
// millisecond of its series at or after that time, see ingest/server_timestamps.h) and calls
// mark_stamped(), before the batch is written to the WAL.
//
// Not thread-safe; a batch is built by one decoder and then handed over whole.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/series_pairs.h"

namespace fp {

struct Point {
  uint32_t device;  // index into ReadingBatch::devices()
  uint32_t metric;  // index into ReadingBatch::metrics()
  int64_t ts_ms;
  double value;
};

struct Attribute {
  uint32_t device;
  std::string key;
  std::string value;
  int64_t ts_ms;
};

class ReadingBatch {
 public:
  uint32_t intern_device(std::string_view id) { return intern(device_index_, devices_, id); }
  uint32_t intern_metric(std::string_view name) { return intern(metric_index_, metrics_, name); }

  // The index of an already interned device id or metric name; nullopt when not interned.
  std::optional<uint32_t> find_device(std::string_view id) const { return find(device_index_, id); }
  std::optional<uint32_t> find_metric(std::string_view name) const {
    return find(metric_index_, name);
  }

  void add(uint32_t device, uint32_t metric, int64_t ts_ms, double value) {
    points_.push_back({device, metric, ts_ms, value});
  }
  // A point without a device timestamp; `received_ms` is where its server stamp starts.
  void add_unstamped(uint32_t device, uint32_t metric, int64_t received_ms, double value) {
    unstamped_.push_back(static_cast<uint32_t>(points_.size()));
    points_.push_back({device, metric, received_ms, value});
  }
  void add_attribute(uint32_t device, std::string key, std::string value, int64_t ts_ms) {
    attributes_.push_back({device, std::move(key), std::move(value), ts_ms});
  }

  const std::vector<std::string>& devices() const { return devices_; }
  const std::vector<std::string>& metrics() const { return metrics_; }
  const std::vector<Point>& points() const { return points_; }
  std::vector<Point>& mutable_points() { return points_; }
  const std::vector<Attribute>& attributes() const { return attributes_; }
  // Indexes into points() of the points that still wait for a server timestamp, ascending.
  const std::vector<uint32_t>& unstamped() const { return unstamped_; }
  void mark_stamped() { unstamped_.clear(); }
  bool empty() const { return points_.empty() && attributes_.empty(); }
  // Size of the message(s) the batch was decoded from, for throughput KPIs (0: unknown).
  void set_wire_bytes(size_t n) { wire_bytes_ = n; }
  size_t wire_bytes() const { return wire_bytes_; }
  void reserve(size_t points) { points_.reserve(points); }
  void clear() {
    devices_.clear();
    metrics_.clear();
    points_.clear();
    attributes_.clear();
    unstamped_.clear();
    device_index_.clear();
    metric_index_.clear();
    resolved_series_.clear();
  }
  // Series ids resolved before submission (SeriesAdmission fills them; engine branch).
  SeriesPairs& resolved_series() { return resolved_series_; }
  const SeriesPairs& resolved_series() const { return resolved_series_; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Index = std::unordered_map<std::string, uint32_t, Hash, std::equal_to<>>;

  static std::optional<uint32_t> find(const Index& index, std::string_view s) {
    auto it = index.find(s);
    if (it == index.end()) return std::nullopt;
    return it->second;
  }
  static uint32_t intern(Index& index, std::vector<std::string>& names, std::string_view s) {
    auto it = index.find(s);
    if (it != index.end()) return it->second;
    const auto i = static_cast<uint32_t>(names.size());
    names.emplace_back(s);
    index.emplace(std::string(s), i);
    return i;
  }

  std::vector<std::string> devices_;
  std::vector<std::string> metrics_;
  std::vector<Point> points_;
  std::vector<Attribute> attributes_;
  std::vector<uint32_t> unstamped_;
  Index device_index_;
  Index metric_index_;
  size_t wire_bytes_ = 0;
  SeriesPairs resolved_series_;
};

// Metric names: 1..200 bytes of UTF-8 without control characters. Returns an error message
// or empty.
std::string validate_metric_name(std::string_view name);

}  // namespace fp
