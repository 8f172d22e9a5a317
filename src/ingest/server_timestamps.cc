#include "ingest/server_timestamps.h"

#include <algorithm>

namespace fp {

void ServerTimestamps::stamp_group(std::span<ReadingBatch* const> batches) {
  std::vector<char> seen;
  for (ReadingBatch* b : batches) {
    if (b->unstamped().empty()) continue;
    seen.assign(b->devices().size(), 0);
    for (uint32_t i : b->unstamped()) {
      const uint32_t d = b->points()[i].device;
      if (!seen[d]) {
        seen[d] = 1;
        group_devices_.insert(b->devices()[d]);
      }
    }
  }
  if (group_devices_.empty()) return;  // every point carries its own timestamp
  for (ReadingBatch* b : batches) stamp_batch(*b);
  group_devices_.clear();
}

void ServerTimestamps::stamp_batch(ReadingBatch& b) {
  // Only series of devices with unstamped points in the group can collide with a stamp.
  std::vector<char> relevant(b.devices().size(), 0);
  bool any = false;
  for (size_t d = 0; d < b.devices().size(); ++d) {
    if (group_devices_.count(b.devices()[d])) relevant[d] = any = true;
  }
  if (!any) return;
  const size_t cells = b.devices().size() * b.metrics().size();
  dense_ = cells <= 4 * b.points().size() + 1024;
  if (dense_)
    cells_.assign(cells, nullptr);
  else
    sparse_cells_.clear();

  std::vector<Point>& points = b.mutable_points();
  const std::vector<uint32_t>& unstamped = b.unstamped();
  size_t next = 0;  // the next entry of `unstamped`
  for (size_t i = 0; i < points.size(); ++i) {
    Point& p = points[i];
    const bool server = next < unstamped.size() && unstamped[next] == i;
    if (server) ++next;
    if (!relevant[p.device]) continue;
    GroupSeries& s = series(b, p.device, p.metric);
    if (!server) {
      s.explicit_ts.insert(p.ts_ms);
      continue;
    }
    int64_t t = std::max(p.ts_ms, last(s) + 1);
    for (;;) {
      t = first_free_stored(s, t);
      if (s.explicit_ts.empty() || !s.explicit_ts.count(t)) break;
      ++t;
    }
    last(s) = t;
    p.ts_ms = t;
  }
  b.mark_stamped();
}

ServerTimestamps::GroupSeries& ServerTimestamps::series(const ReadingBatch& b, uint32_t device,
                                                        uint32_t metric) {
  GroupSeries*& cell = dense_ ? cells_[size_t{device} * b.metrics().size() + metric]
                              : sparse_cells_[(uint64_t{device} << 32) | metric];
  if (cell) return *cell;
  const std::string& dev = b.devices()[device];
  const std::string& met = b.metrics()[metric];
  key_.assign(dev).push_back('\0');
  key_.append(met);
  auto [it, inserted] = group_.try_emplace(key_);
  GroupSeries& s = it->second;
  if (inserted) {
    s.id = store_.index().find(dev, met);
    if (s.id) {
      if (last_by_id_.size() <= *s.id) last_by_id_.resize(size_t{*s.id} + 1, 0);
      if (auto latest = store_.latest(*s.id)) s.stored_max = latest->ts;
    }
  }
  cell = &s;
  return s;
}

int64_t ServerTimestamps::first_free_stored(const GroupSeries& s, int64_t from) const {
  if (!s.id || !s.stored_max) return from;
  // Probe in windows, so a dense run of points (a device clock ahead of ours) costs one scan
  // per 1024 ms instead of one per point.
  constexpr int64_t kWindow = 1024;
  while (from <= *s.stored_max) {
    const int64_t end = std::min(from + kWindow - 1, *s.stored_max);
    int64_t want = from;
    store_.scan(*s.id, from, end, [&](const tsdb::Sample& x) {
      if (x.ts == want) ++want;
    });
    if (want <= end) return want;
    from = want;
  }
  return from;
}

void ServerTimestamps::end_group() {
  for (auto& [key, s] : group_) {
    if (s.id || s.new_last == 0) continue;
    const std::string_view k = key;
    const size_t zero = k.find('\0');
    const auto id = store_.index().find(k.substr(0, zero), k.substr(zero + 1));
    if (!id) continue;  // the batch was not applied
    if (last_by_id_.size() <= *id) last_by_id_.resize(size_t{*id} + 1, 0);
    last_by_id_[*id] = std::max(last_by_id_[*id], s.new_last);
  }
  group_.clear();
}

void ServerTimestamps::forget_all() {
  last_by_id_.clear();
}

}  // namespace fp
