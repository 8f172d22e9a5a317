#pragma once
// Head: the recent points of every series in memory, sorted by time, mostly compressed: each
// series' points are a SeriesPoints (closed runs of 16 points coded as codec chunks, a short
// raw open run, a small out-of-order buffer; see series_points.h). In-order appends (the
// common case) are O(1) amortised. A point at an existing (series, timestamp) overwrites it,
// so retries are idempotent; readers decode what they read.
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
#include "storage/tsdb/series_points.h"

namespace fp::tsdb {

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
  // As take_all(), but the points stay compressed: one SeriesPoints per series id, null for a
  // series without points.
  std::vector<std::unique_ptr<SeriesPoints>> take_all_points();
  // Heap bytes held by the series' points (capacity), summed under each stripe lock; O(series).
  size_t memory_bytes() const;
  void drop(SeriesId id);
  void clear();

  uint64_t points() const { return points_.load(std::memory_order_relaxed); }
  // The points' raw size (16 bytes each), not what they take: see memory_bytes().
  uint64_t bytes() const { return points() * sizeof(Sample); }

 private:
  static constexpr size_t kStripes = 64;
  // 32 bytes, stored inline in the pages below: a series without points costs no more.
  struct Series {
    std::unique_ptr<SeriesPoints> points;  // needs the stripe lock; null: no points
    // The point with the greatest ts, readable without the stripe lock: a seqlock (odd
    // while a writer, who holds the stripe lock, changes it).
    std::atomic<uint32_t> latest_seq{0};
    std::atomic<bool> has_latest{false};
    std::atomic<int64_t> latest_ts{0};
    std::atomic<uint64_t> latest_bits{0};
    bool insert(int64_t ts, double value);  // needs the stripe lock; true: overwrote
    std::optional<Sample> read_latest() const;
    void set_latest(std::optional<Sample> s);      // needs the stripe lock
    void offer_latest(int64_t ts, double value) {  // needs the stripe lock
      if (!has_latest.load(std::memory_order_relaxed) ||
          ts >= latest_ts.load(std::memory_order_relaxed))
        set_latest(Sample{ts, value});
    }
  };
  std::mutex& stripe(SeriesId id) const { return stripes_[id % kStripes]; }
  Series* find(SeriesId id) const;
  Series* get_or_add(SeriesId id);

  mutable std::array<std::mutex, kStripes> stripes_;
  // Series by id in pages of 4096 series, found without a lock (readers and the writer load
  // the page pointers); pages are created under grow_mu_ and live as long as the Head. A
  // Series' points are guarded by its stripe.
  static constexpr size_t kPageBits = 12;
  static constexpr size_t kPageSize = size_t{1} << kPageBits;
  static constexpr size_t kMaxPages = size_t{1} << 16;  // 268 M series
  struct Page {
    std::array<Series, kPageSize> slots{};
  };
  std::unique_ptr<std::atomic<Page*>[]> pages_ { new std::atomic<Page*>[ kMaxPages ]() };
  std::atomic<size_t> id_end_{0};  // one past the greatest id with a Series
  std::mutex grow_mu_;
  std::vector<std::unique_ptr<Page>> owned_pages_;  // grow_mu_
  std::atomic<uint64_t> points_{0};
};

template <typename Fn>
void Head::scan(SeriesId id, int64_t start, int64_t end, Fn&& fn) const {
  Series* s = find(id);
  if (!s) return;
  std::lock_guard lock(stripe(id));
  if (s->points) s->points->scan(start, end, std::forward<Fn>(fn));
}

}  // namespace fp::tsdb
