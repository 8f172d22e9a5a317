#include "storage/tsdb/replay_applier.h"

#include <algorithm>
#include <system_error>
#include <utility>

namespace fp::tsdb {

ReplayApplier::ReplayApplier(SeriesIndex& index, Head& head, size_t buffer_points, bool background)
    : index_(index),
      head_(head),
      buffer_points_(std::max<size_t>(buffer_points, 1)),
      background_(background) {}

ReplayApplier::~ReplayApplier() {
  if (worker_.valid()) worker_.wait();  // an error it threw was reported by flush() or is moot
}

uint32_t ReplayApplier::device_number(std::string_view name) {
  auto it = device_numbers_.find(name);
  if (it != device_numbers_.end()) return it->second;
  const auto n = static_cast<uint32_t>(devices_.size());
  devices_.push_back({std::string(name), {}, 0, false, 0});
  device_numbers_.emplace(std::string(name), n);
  return n;
}

uint32_t ReplayApplier::metric_number(std::string_view name) {
  auto it = metric_numbers_.find(name);
  if (it != metric_numbers_.end()) return it->second;
  const auto n = static_cast<uint32_t>(metrics_.size());
  metrics_.emplace_back(name);
  metric_stamps_.push_back(0);
  metric_numbers_.emplace(std::string(name), n);
  return n;
}

Status ReplayApplier::add_batch(std::string_view record, int64_t received_ms, size_t* points) {
  *points = 0;
  FP_RETURN_IF_ERROR(decode_batch_record_view(record, view_));
  // Map the record's names to ours, refusing a name given twice (as decode_batch_record does).
  const uint64_t stamp = ++batch_stamp_;
  batch_devices_.resize(view_.devices.size());
  for (size_t i = 0; i < view_.devices.size(); ++i) {
    const uint32_t d = device_number(view_.devices[i]);
    if (devices_[d].batch_stamp == stamp)
      return Status::Corruption("batch record: duplicate device name");
    devices_[d].batch_stamp = stamp;
    batch_devices_[i] = d;
  }
  batch_metrics_.resize(view_.metrics.size());
  for (size_t i = 0; i < view_.metrics.size(); ++i) {
    const uint32_t m = metric_number(view_.metrics[i]);
    if (metric_stamps_[m] == stamp)
      return Status::Corruption("batch record: duplicate metric name");
    metric_stamps_[m] = stamp;
    batch_metrics_[i] = m;
  }
  for (uint32_t d : batch_devices_) {
    Device& dev = devices_[d];
    dev.last_received_ms = dev.seen ? std::max(dev.last_received_ms, received_ms) : received_ms;
    dev.seen = true;
  }
  for (const Point& p : view_.points) {
    Device& dev = devices_[batch_devices_[p.device]];
    const uint32_t m = batch_metrics_[p.metric];
    if (dev.ids.size() <= m) dev.ids.resize(metrics_.size(), kUnknown);
    SeriesId& id = dev.ids[m];
    if (id == kUnknown) id = index_.get_or_create(dev.name, metrics_[m]);
    pending_.ids.push_back(id);
    pending_.samples.push_back({p.ts_ms, p.value});
  }
  *points = view_.points.size();
  if (pending_.ids.size() >= buffer_points_) hand_off();
  return Status::Ok();
}

Status ReplayApplier::add_seen_only(std::string_view record, int64_t received_ms) {
  FP_RETURN_IF_ERROR(decode_batch_record_view(record, view_));
  for (std::string_view name : view_.devices) {
    Device& dev = devices_[device_number(name)];
    dev.last_received_ms = dev.seen ? std::max(dev.last_received_ms, received_ms) : received_ms;
    dev.seen = true;
  }
  return Status::Ok();
}

void ReplayApplier::wait() {
  if (worker_.valid()) worker_.get();
}

void ReplayApplier::hand_off() {
  if (pending_.ids.empty()) return;
  wait();
  std::swap(pending_, applying_);
  pending_.ids.clear();
  pending_.samples.clear();
  if (background_) {
    try {
      worker_ = std::async(std::launch::async, [this] { apply(applying_); });
      return;
    } catch (const std::system_error&) {  // no thread to be had: apply it here
    }
  }
  apply(applying_);
}

void ReplayApplier::flush() {
  hand_off();
  wait();
}

void ReplayApplier::apply(Buffer& b) {
  // Counting sort by series id: stable, so each series' points keep their WAL order.
  const SeriesId max_id = *std::max_element(b.ids.begin(), b.ids.end());
  run_start_.assign(static_cast<size_t>(max_id) + 2, 0);
  for (SeriesId id : b.ids) ++run_start_[id + 1];
  for (size_t i = 1; i < run_start_.size(); ++i) run_start_[i] += run_start_[i - 1];
  sorted_.resize(b.samples.size());
  // Scatter with a cursor per series; afterwards run_start_[id] is the end of id's run.
  for (size_t i = 0; i < b.samples.size(); ++i) sorted_[run_start_[b.ids[i]]++] = b.samples[i];
  uint32_t begin = 0;
  for (SeriesId id = 0; id <= max_id; ++id) {
    const uint32_t end = run_start_[id];
    if (end > begin) head_.append_run(id, sorted_.data() + begin, end - begin);
    begin = end;
  }
}

void ReplayApplier::before_removal(std::string_view device, bool keep_ids) {
  flush();
  auto it = device_numbers_.find(device);
  if (it == device_numbers_.end()) return;
  Device& d = devices_[it->second];
  if (!keep_ids) d.ids.clear();
  d.seen = false;
}

void ReplayApplier::before_remove_all() {
  flush();
  for (Device& d : devices_) {
    d.ids.clear();
    d.seen = false;
  }
}

}  // namespace fp::tsdb
