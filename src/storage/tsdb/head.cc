#include "storage/tsdb/head.h"

#include <algorithm>
#include <memory>

namespace fp::tsdb {

Head::Series* Head::find(SeriesId id) const {
  std::lock_guard lock(grow_mu_);
  return id < series_.size() ? series_[id].get() : nullptr;
}

Head::Series* Head::get_or_add(SeriesId id) {
  std::lock_guard lock(grow_mu_);
  if (id >= series_.size()) series_.resize(static_cast<size_t>(id) + 1);
  if (!series_[id]) series_[id] = std::make_unique<Series>();
  return series_[id].get();
}

bool Head::append(SeriesId id, int64_t ts, double value) {
  Series* s = get_or_add(id);
  std::lock_guard lock(stripe(id));
  auto& v = s->samples;
  bool overwrote = false;
  if (v.empty() || v.back().ts < ts) {
    v.push_back({ts, value});
  } else {
    auto it = std::lower_bound(v.begin(), v.end(), ts,
                               [](const Sample& a, int64_t t) { return a.ts < t; });
    if (it != v.end() && it->ts == ts) {
      it->value = value;
      overwrote = true;
    } else {
      v.insert(it, {ts, value});
    }
  }
  if (!overwrote) points_.fetch_add(1, std::memory_order_relaxed);
  if (!s->latest || ts >= s->latest->ts) s->latest = Sample{ts, value};
  return overwrote;
}

std::vector<Sample> Head::range(SeriesId id, int64_t start, int64_t end) const {
  std::vector<Sample> out;
  scan(id, start, end, [&](const Sample& s) { out.push_back(s); });
  return out;
}

std::optional<Sample> Head::latest(SeriesId id) const {
  Series* s = find(id);
  if (!s) return std::nullopt;
  std::lock_guard lock(stripe(id));
  return s->latest;
}

bool Head::has_points(SeriesId id, int64_t start, int64_t end) const {
  Series* s = find(id);
  if (!s) return false;
  std::lock_guard lock(stripe(id));
  auto it = std::lower_bound(s->samples.begin(), s->samples.end(), start,
                             [](const Sample& a, int64_t t) { return a.ts < t; });
  return it != s->samples.end() && it->ts <= end;
}

void Head::note_latest(SeriesId id, int64_t ts, double value) {
  Series* s = get_or_add(id);
  std::lock_guard lock(stripe(id));
  if (!s->latest || ts >= s->latest->ts) s->latest = Sample{ts, value};
}

std::vector<std::vector<Sample>> Head::take_all() {
  std::vector<std::vector<Sample>> out;
  std::lock_guard lock(grow_mu_);
  out.resize(series_.size());
  for (size_t i = 0; i < series_.size(); ++i) {
    if (!series_[i]) continue;
    std::lock_guard s(stripes_[i % kStripes]);
    out[i].swap(series_[i]->samples);
  }
  points_.store(0);
  return out;
}

void Head::drop(SeriesId id) {
  Series* s = find(id);
  if (!s) return;
  std::lock_guard lock(stripe(id));
  points_.fetch_sub(s->samples.size(), std::memory_order_relaxed);
  s->samples.clear();
  s->samples.shrink_to_fit();
  s->latest.reset();
}

void Head::clear() {
  // Series objects stay allocated: a concurrent reader may hold a pointer to one.
  std::lock_guard lock(grow_mu_);
  for (size_t i = 0; i < series_.size(); ++i) {
    if (!series_[i]) continue;
    std::lock_guard s(stripes_[i % kStripes]);
    series_[i]->samples = {};
    series_[i]->latest.reset();
  }
  points_.store(0);
}

}  // namespace fp::tsdb
