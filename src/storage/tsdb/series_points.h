#pragma once
// SeriesPoints: the in-memory points of one series, sorted by time with unique timestamps,
// mostly compressed. Points are appended to a short raw "open" run; once it holds kRunPoints
// points it is closed: coded as one codec chunk (storage/codec, the blocks' own codec, about
// 1.5-2.5 bytes per point instead of 16) and appended to `packed_`, where readers decode it.
// A point at an existing timestamp overwrites it (the one closed run that can hold it is
// decoded, changed and coded again). A late point older than the open run goes to a small
// unsorted buffer; once it holds max(64, n/256) points they are merged into the closed runs
// they fall in: only those runs are decoded and coded again (split when they grow past two
// runs' worth), the others are copied as bytes. Readers merge the buffer on the fly. A series
// that got a late point or an overwrite also keeps an index of its frames (where each starts
// and its last timestamp), so finding the run for a timestamp is a binary search and a check
// of that run's timestamps alone (no values decoded), not a walk over every frame; series
// written in order never pay for it (one null pointer).
//
// `packed_` is a sequence of frames: uvarint chunk length, uvarint (last ts of this chunk -
// last ts of the previous one, or - the first ts of all closed points for the first frame),
// the chunk. A frame can be skipped without decoding it. In memory only; never on disk.
//
// Not thread-safe: the owner (Head, under its stripe lock; the frozen layer, read-only)
// serialises access.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/codec/chunk_decoder.h"
#include "storage/codec/chunk_format.h"

namespace fp::tsdb {

struct Sample {
  int64_t ts;
  double value;
};

class SeriesPoints {
 public:
  // Points per closed run (one chunk).
  static constexpr size_t kRunPoints = 16;

  // Stores a point. Returns true when it overwrote one at the same timestamp.
  bool insert(int64_t ts, double value);
  // Calls fn(sample) for the points in [start, end], ascending.
  template <typename Fn>
  void scan(int64_t start, int64_t end, Fn&& fn) const;
  // Every point, ascending.
  std::vector<Sample> to_vector() const;
  bool has_points(int64_t start, int64_t end) const;
  std::optional<int64_t> first_ts() const;
  // The greatest timestamp (the series must not be empty).
  int64_t last_ts() const { return open_.empty() ? closed_last_ts_ : open_.back().ts; }
  size_t size() const { return closed_count_ + open_.size() + late_points(); }
  bool empty() const { return size() == 0; }
  // Heap bytes held (capacity, not just contents).
  size_t memory_bytes() const {
    return packed_.capacity() + open_.capacity() * sizeof(Sample) +
           (late_ ? sizeof(Late) + late_->points.capacity() * sizeof(Sample) +
                        late_->frames.capacity() * sizeof(Frame)
                  : 0);
  }

 private:
  // Where a frame of packed_ starts and the last timestamp of its chunk.
  struct Frame {
    int64_t last_ts;
    size_t offset;
  };
  // Only for a series that got a late point or an overwrite of a closed point.
  struct Late {
    std::vector<Sample> points;  // unsorted; ts < closed_last_ts_, unique, absent from packed_
    std::vector<Frame> frames;   // every frame of packed_, in order
  };

  size_t late_points() const { return late_ ? late_->points.size() : 0; }
  // Calls fn(sample) for the closed and open points in [start, end] ascending (no late ones).
  template <typename Fn>
  void scan_sorted(int64_t start, int64_t end, Fn&& fn) const;
  void close_open_run();
  // The late state, created (and packed_'s frames indexed) on first use.
  Late& late_state();
  // The chunk of the frame that starts at `offset` in packed_.
  std::string_view chunk_at(size_t offset) const;
  // Overwrites the closed point at `ts` if there is one.
  bool overwrite_closed(int64_t ts, double value);
  // Merges the late points into the closed runs they fall in (the frame index follows).
  void merge_late();
  static void append_frame(std::string& out, const Sample* run, size_t n, int64_t prev_last);

  std::string packed_;           // closed runs, as frames (above)
  std::vector<Sample> open_;     // sorted, every ts > closed_last_ts_
  std::unique_ptr<Late> late_;   // null until a late point or an overwrite of a closed point
  uint32_t closed_count_ = 0;    // points in packed_
  int64_t closed_first_ts_ = 0;  // valid when closed_count_ > 0
  int64_t closed_last_ts_ = 0;
};

// Frame walk shared by the readers: calls fn(chunk bytes, last ts) per frame; fn returns
// false to stop.
template <typename Fn>
void for_each_frame(std::string_view packed, int64_t first_ts, Fn&& fn) {
  const auto* p = reinterpret_cast<const uint8_t*>(packed.data());
  const auto* end = p + packed.size();
  int64_t last = first_ts;
  while (p < end) {
    uint64_t len = 0, delta = 0;
    // The frames are written by this process: a failed read is a programmer error.
    if (!codec::get_uvarint(&p, end, &len) || !codec::get_uvarint(&p, end, &delta)) return;
    last = static_cast<int64_t>(static_cast<uint64_t>(last) + delta);  // wraps like the writer
    if (!fn(std::string_view(reinterpret_cast<const char*>(p), len), last)) return;
    p += len;
  }
}

template <typename Fn>
void SeriesPoints::scan_sorted(int64_t start, int64_t end, Fn&& fn) const {
  if (start > end) return;
  if (closed_count_ > 0 && closed_first_ts_ <= end && closed_last_ts_ >= start) {
    for_each_frame(packed_, closed_first_ts_, [&](std::string_view chunk, int64_t last) {
      if (last < start) return true;
      codec::ChunkDecoder dec(chunk);
      int64_t ts;
      double v;
      while (dec.next(ts, v)) {
        if (ts > end) return false;
        if (ts >= start) fn(Sample{ts, v});
      }
      return true;
    });
  }
  auto it = std::lower_bound(open_.begin(), open_.end(), start,
                             [](const Sample& a, int64_t t) { return a.ts < t; });
  for (; it != open_.end() && it->ts <= end; ++it) fn(*it);
}

template <typename Fn>
void SeriesPoints::scan(int64_t start, int64_t end, Fn&& fn) const {
  if (late_points() == 0) return scan_sorted(start, end, std::forward<Fn>(fn));
  std::vector<Sample> late;
  for (const Sample& x : late_->points)
    if (x.ts >= start && x.ts <= end) late.push_back(x);
  std::sort(late.begin(), late.end(), [](const Sample& a, const Sample& b) { return a.ts < b.ts; });
  auto l = late.begin();
  scan_sorted(start, end, [&](const Sample& s) {
    for (; l != late.end() && l->ts < s.ts; ++l) fn(*l);
    fn(s);
  });
  for (; l != late.end(); ++l) fn(*l);
}

}  // namespace fp::tsdb
