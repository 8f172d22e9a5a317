#include "storage/tsdb/head.h"

#include <climits>
#include <cstdlib>
#include <memory>

namespace fp::tsdb {

Head::Series* Head::find(SeriesId id) const {
  const size_t page = id >> kPageBits;
  if (page >= kMaxPages) return nullptr;
  Page* p = pages_[page].load(std::memory_order_acquire);
  return p ? &p->slots[id & (kPageSize - 1)] : nullptr;
}

Head::Series* Head::get_or_add(SeriesId id) {
  const size_t page = id >> kPageBits;
  if (page >= kMaxPages) std::abort();  // 268 M series: the index would run out first
  Page* p = pages_[page].load(std::memory_order_acquire);
  if (!p) {
    std::lock_guard lock(grow_mu_);
    p = pages_[page].load(std::memory_order_acquire);
    if (!p) {
      owned_pages_.push_back(std::make_unique<Page>());
      p = owned_pages_.back().get();
      pages_[page].store(p, std::memory_order_release);
    }
  }
  if (id_end_.load(std::memory_order_relaxed) <= id) {
    std::lock_guard lock(grow_mu_);
    if (id_end_.load() <= id) id_end_.store(static_cast<size_t>(id) + 1);
  }
  return &p->slots[id & (kPageSize - 1)];
}

bool Head::Series::insert(int64_t ts, double value) {
  if (!points) points = std::make_unique<SeriesPoints>();
  return points->insert(ts, value);
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
  size_t overwrote = 0;
  for (size_t i = 0; i < n; ++i)
    if (s->insert(points[i].ts, points[i].value)) ++overwrote;
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
    const uint32_t before = latest_seq.load(std::memory_order_acquire);
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
  const uint32_t seq = latest_seq.load(std::memory_order_relaxed);
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
  return s->points ? s->points->first_ts() : std::nullopt;
}

bool Head::has_points(SeriesId id, int64_t start, int64_t end) const {
  Series* s = find(id);
  if (!s) return false;
  std::lock_guard lock(stripe(id));
  return s->points && s->points->has_points(start, end);
}

void Head::note_latest(SeriesId id, int64_t ts, double value) {
  Series* s = get_or_add(id);
  std::lock_guard lock(stripe(id));
  s->offer_latest(ts, value);
}

std::vector<std::unique_ptr<SeriesPoints>> Head::take_all_points() {
  std::vector<std::unique_ptr<SeriesPoints>> out(id_end_.load());
  for (size_t i = 0; i < out.size(); ++i) {
    Series* s = find(static_cast<SeriesId>(i));
    if (!s) continue;
    std::lock_guard lock(stripes_[i % kStripes]);
    if (s->points && !s->points->empty()) out[i] = std::move(s->points);
    s->points.reset();
  }
  points_.store(0);
  return out;
}

std::vector<std::vector<Sample>> Head::take_all() {
  std::vector<std::vector<Sample>> out;
  for (auto& p : take_all_points()) out.push_back(p ? p->to_vector() : std::vector<Sample>{});
  return out;
}

size_t Head::memory_bytes() const {
  size_t total = 0;
  const size_t end = id_end_.load();
  for (size_t i = 0; i < end; ++i) {
    Series* s = find(static_cast<SeriesId>(i));
    if (!s) continue;
    std::lock_guard lock(stripes_[i % kStripes]);
    if (s->points) total += sizeof(SeriesPoints) + s->points->memory_bytes();
  }
  return total;
}

void Head::drop(SeriesId id) {
  Series* s = find(id);
  if (!s) return;
  std::lock_guard lock(stripe(id));
  if (s->points) points_.fetch_sub(s->points->size(), std::memory_order_relaxed);
  s->points.reset();
  s->set_latest(std::nullopt);
}

void Head::clear() {
  const size_t end = id_end_.load();
  for (size_t i = 0; i < end; ++i) {
    Series* s = find(static_cast<SeriesId>(i));
    if (!s) continue;
    std::lock_guard lock(stripes_[i % kStripes]);
    s->points.reset();
    s->set_latest(std::nullopt);
  }
  points_.store(0);
}

}  // namespace fp::tsdb
