#include "storage/tsdb/head.h"

#include <algorithm>
#include <climits>
#include <memory>

namespace fp::tsdb {

Head::Series* Head::find(SeriesId id) const {
  const size_t page = id >> kPageBits;
  if (page >= kMaxPages) return nullptr;
  Page* p = pages_[page].load(std::memory_order_acquire);
  return p ? p->slots[id & (kPageSize - 1)].load(std::memory_order_acquire) : nullptr;
}

Head::Series* Head::get_or_add(SeriesId id) {
  if (Series* s = find(id)) return s;
  const size_t page = id >> kPageBits;
  if (page >= kMaxPages) std::abort();  // 268 M series: the index would run out first
  std::lock_guard lock(grow_mu_);
  Page* p = pages_[page].load(std::memory_order_acquire);
  if (!p) {
    owned_pages_.push_back(std::make_unique<Page>());
    p = owned_pages_.back().get();
    pages_[page].store(p, std::memory_order_release);
  }
  auto& slot = p->slots[id & (kPageSize - 1)];
  Series* s = slot.load(std::memory_order_acquire);
  if (!s) {
    owned_series_.push_back(std::make_unique<Series>());
    s = owned_series_.back().get();
    slot.store(s, std::memory_order_release);
    if (id_end_.load() <= id) id_end_.store(static_cast<size_t>(id) + 1);
  }
  return s;
}

void Head::Series::merge_late() {
  if (late.empty()) return;
  std::sort(late.begin(), late.end(), [](const Sample& a, const Sample& b) { return a.ts < b.ts; });
  const size_t mid = samples.size();
  samples.insert(samples.end(), late.begin(), late.end());
  std::inplace_merge(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(mid),
                     samples.end(), [](const Sample& a, const Sample& b) { return a.ts < b.ts; });
  late.clear();
}

bool Head::Series::insert(int64_t ts, double value) {
  auto& v = samples;
  if (v.empty() || v.back().ts < ts) {
    v.push_back({ts, value});
    return false;
  }
  auto it =
      std::lower_bound(v.begin(), v.end(), ts, [](const Sample& a, int64_t t) { return a.ts < t; });
  if (it->ts == ts) {  // it is valid: v.back().ts >= ts
    it->value = value;
    return true;
  }
  auto l = std::find_if(late.begin(), late.end(), [ts](const Sample& x) { return x.ts == ts; });
  if (l != late.end()) {
    l->value = value;
    return true;
  }
  late.push_back({ts, value});
  if (late.size() >= std::max<size_t>(256, v.size() / 64)) merge_late();
  return false;
}

bool Head::append(SeriesId id, int64_t ts, double value) {
  Series* s = get_or_add(id);
  std::lock_guard lock(stripe(id));
  const bool overwrote = s->insert(ts, value);
  if (!overwrote) points_.fetch_add(1, std::memory_order_relaxed);
  s->offer_latest(ts, value);
  return overwrote;
}

size_t Head::append_run(SeriesId id, const Sample* points, size_t n) {
  if (n == 0) return 0;
  Series* s = get_or_add(id);
  std::lock_guard lock(stripe(id));
  auto& v = s->samples;
  size_t i = 0, overwrote = 0;
  while (i < n) {
    // The longest ascending run after the newest point is copied at once.
    size_t j = i;
    int64_t last = v.empty() ? INT64_MIN : v.back().ts;
    while (j < n && points[j].ts > last) last = points[j++].ts;
    if (j > i) {
      v.insert(v.end(), points + i, points + j);
      i = j;
      continue;
    }
    if (s->insert(points[i].ts, points[i].value)) ++overwrote;
    ++i;
  }
  // offer_latest takes a point at an equal or newer time: the last of the greatest ts wins.
  const Sample* best = points;
  for (size_t k = 1; k < n; ++k)
    if (points[k].ts >= best->ts) best = points + k;
  s->offer_latest(best->ts, best->value);
  points_.fetch_add(n - overwrote, std::memory_order_relaxed);
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
  return s->read_latest();
}

std::optional<Sample> Head::Series::read_latest() const {
  for (;;) {
    const uint64_t before = latest_seq.load(std::memory_order_acquire);
    if (before & 1) continue;  // a writer is between its two stores
    const bool has = has_latest.load(std::memory_order_relaxed);
    const int64_t ts = latest_ts.load(std::memory_order_relaxed);
    const uint64_t bits = latest_bits.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (latest_seq.load(std::memory_order_relaxed) != before) continue;
    if (!has) return std::nullopt;
    return Sample{ts, std::bit_cast<double>(bits)};
  }
}

void Head::Series::set_latest(std::optional<Sample> s) {
  const uint64_t seq = latest_seq.load(std::memory_order_relaxed);
  latest_seq.store(seq + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  has_latest.store(s.has_value(), std::memory_order_relaxed);
  if (s) {
    latest_ts.store(s->ts, std::memory_order_relaxed);
    latest_bits.store(std::bit_cast<uint64_t>(s->value), std::memory_order_relaxed);
  }
  latest_seq.store(seq + 2, std::memory_order_release);
}

std::optional<int64_t> Head::first_ts(SeriesId id) const {
  Series* s = find(id);
  if (!s) return std::nullopt;
  std::lock_guard lock(stripe(id));
  std::optional<int64_t> first;
  if (!s->samples.empty()) first = s->samples.front().ts;
  for (const Sample& x : s->late)
    if (!first || x.ts < *first) first = x.ts;
  return first;
}

bool Head::has_points(SeriesId id, int64_t start, int64_t end) const {
  Series* s = find(id);
  if (!s) return false;
  std::lock_guard lock(stripe(id));
  auto it = std::lower_bound(s->samples.begin(), s->samples.end(), start,
                             [](const Sample& a, int64_t t) { return a.ts < t; });
  if (it != s->samples.end() && it->ts <= end) return true;
  return std::any_of(s->late.begin(), s->late.end(),
                     [&](const Sample& x) { return x.ts >= start && x.ts <= end; });
}

void Head::note_latest(SeriesId id, int64_t ts, double value) {
  Series* s = get_or_add(id);
  std::lock_guard lock(stripe(id));
  s->offer_latest(ts, value);
}

std::vector<std::vector<Sample>> Head::take_all() {
  std::vector<std::vector<Sample>> out(id_end_.load());
  for (size_t i = 0; i < out.size(); ++i) {
    Series* s = find(static_cast<SeriesId>(i));
    if (!s) continue;
    std::lock_guard lock(stripes_[i % kStripes]);
    s->merge_late();
    out[i].swap(s->samples);
  }
  points_.store(0);
  return out;
}

void Head::drop(SeriesId id) {
  Series* s = find(id);
  if (!s) return;
  std::lock_guard lock(stripe(id));
  points_.fetch_sub(s->samples.size() + s->late.size(), std::memory_order_relaxed);
  s->samples.clear();
  s->samples.shrink_to_fit();
  s->late = {};
  s->set_latest(std::nullopt);
}

void Head::clear() {
  // Series objects stay allocated: a concurrent reader may hold a pointer to one.
  const size_t end = id_end_.load();
  for (size_t i = 0; i < end; ++i) {
    Series* s = find(static_cast<SeriesId>(i));
    if (!s) continue;
    std::lock_guard lock(stripes_[i % kStripes]);
    s->samples = {};
    s->late = {};
    s->set_latest(std::nullopt);
  }
  points_.store(0);
}

}  // namespace fp::tsdb
