#pragma once
// Head: the recent points of every series in memory, sorted by time, one vector per series.
// In-order appends (the common case) are O(1). A point at an existing (series, timestamp)
// overwrites it in place (O(log n)), so retries are idempotent. Other late points go to a
// small unsorted out-of-order buffer per series, merged into the sorted vector once it holds
// max(256, n/64) points, so a late point costs O(log n) plus an amortised O(64) moves instead
// of shifting the whole series; readers merge the buffer on the fly.
// It also keeps each series' latest point, which is what "latest" queries read.
//
// Thread safety: series are striped over mutexes; readers copy out what they need.

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "storage/tsdb/series_index.h"

namespace fp::tsdb {

struct Sample {
  int64_t ts;
  double value;
};

class Head {
 public:
  // Stores a point. Returns true when it overwrote one at the same timestamp.
  bool append(SeriesId id, int64_t ts, double value);
  // Stores n points of one series in the given order, with the same result as n append()s,
  // but taking the series' lock once and copying an ascending run in one go (WAL replay).
  // Returns how many overwrote a point.
  size_t append_run(SeriesId id, const Sample* points, size_t n);
  // Points of `id` with start <= ts <= end, ascending.
  std::vector<Sample> range(SeriesId id, int64_t start, int64_t end) const;
  // Calls fn(sample) for points in [start, end] ascending without copying; fn must not block.
  template <typename Fn>
  void scan(SeriesId id, int64_t start, int64_t end, Fn&& fn) const;
  std::optional<Sample> latest(SeriesId id) const;
  // The earliest timestamp of `id` in the head.
  std::optional<int64_t> first_ts(SeriesId id) const;
  // True when `id` has a point in [start, end].
  bool has_points(SeriesId id, int64_t start, int64_t end) const;
  // Sets the latest point of `id` if `ts` is newer than what it knows (blocks loaded at start).
  void note_latest(SeriesId id, int64_t ts, double value);
  // Moves every series' points out (indexed by SeriesId) and leaves the head empty; latest
  // values stay. The caller must be the only writer.
  std::vector<std::vector<Sample>> take_all();
  void drop(SeriesId id);
  void clear();

  uint64_t points() const { return points_.load(std::memory_order_relaxed); }
  uint64_t bytes() const { return points() * sizeof(Sample); }

 private:
  static constexpr size_t kStripes = 64;
  struct Series {
    std::vector<Sample> samples;  // sorted, unique timestamps
    std::vector<Sample> late;     // unsorted; timestamps unique and absent from samples
    void merge_late();
    bool insert(int64_t ts, double value);  // needs the stripe lock; true: overwrote
    // The point with the greatest ts, readable without the stripe lock: a seqlock (odd
    // while a writer, who holds the stripe lock, changes it).
    std::atomic<uint64_t> latest_seq{0};
    std::atomic<bool> has_latest{false};
    std::atomic<int64_t> latest_ts{0};
    std::atomic<uint64_t> latest_bits{0};
    std::optional<Sample> read_latest() const;
    void set_latest(std::optional<Sample> s);      // needs the stripe lock
    void offer_latest(int64_t ts, double value) {  // needs the stripe lock
      if (!has_latest.load(std::memory_order_relaxed) ||
          ts >= latest_ts.load(std::memory_order_relaxed))
        set_latest(Sample{ts, value});
    }
  };
  // Calls fn for points of `s` in [start, end] ascending; needs the series' stripe lock.
  template <typename Fn>
  static void scan_locked(const Series& s, int64_t start, int64_t end, Fn&& fn);
  std::mutex& stripe(SeriesId id) const { return stripes_[id % kStripes]; }
  Series* find(SeriesId id) const;
  Series* get_or_add(SeriesId id);

  mutable std::array<std::mutex, kStripes> stripes_;
  // Series by id in pages of 4096, found without a lock (readers and the writer load the
  // pointers); pages and series are created under grow_mu_ and live as long as the Head.
  // A Series' contents are guarded by its stripe.
  static constexpr size_t kPageBits = 12;
  static constexpr size_t kPageSize = size_t{1} << kPageBits;
  static constexpr size_t kMaxPages = size_t{1} << 16;  // 268 M series
  struct Page {
    std::array<std::atomic<Series*>, kPageSize> slots{};
  };
  std::unique_ptr<std::atomic<Page*>[]> pages_ { new std::atomic<Page*>[ kMaxPages ]() };
  std::atomic<size_t> id_end_{0};  // one past the greatest id with a Series
  std::mutex grow_mu_;
  std::vector<std::unique_ptr<Page>> owned_pages_;     // grow_mu_
  std::vector<std::unique_ptr<Series>> owned_series_;  // grow_mu_
  std::atomic<uint64_t> points_{0};
};

template <typename Fn>
void Head::scan_locked(const Series& s, int64_t start, int64_t end, Fn&& fn) {
  auto by_ts = [](const Sample& a, int64_t t) { return a.ts < t; };
  auto it = std::lower_bound(s.samples.begin(), s.samples.end(), start, by_ts);
  if (s.late.empty()) {
    for (; it != s.samples.end() && it->ts <= end; ++it) fn(*it);
    return;
  }
  std::vector<Sample> late;
  for (const Sample& x : s.late)
    if (x.ts >= start && x.ts <= end) late.push_back(x);
  std::sort(late.begin(), late.end(), [](const Sample& a, const Sample& b) { return a.ts < b.ts; });
  auto l = late.begin();
  for (; it != s.samples.end() && it->ts <= end; ++it) {
    for (; l != late.end() && l->ts < it->ts; ++l) fn(*l);
    fn(*it);
  }
  for (; l != late.end(); ++l) fn(*l);
}

template <typename Fn>
void Head::scan(SeriesId id, int64_t start, int64_t end, Fn&& fn) const {
  Series* s = find(id);
  if (!s) return;
  std::lock_guard lock(stripe(id));
  scan_locked(*s, start, end, std::forward<Fn>(fn));
}

}  // namespace fp::tsdb
