#include "storage/tsdb/series_points.h"

#include <climits>

#include "storage/codec/chunk_encoder.h"

namespace fp::tsdb {
namespace {

bool by_ts(const Sample& a, const Sample& b) {
  return a.ts < b.ts;
}

}  // namespace

void SeriesPoints::append_frame(std::string& out, const Sample* run, size_t n, int64_t prev_last) {
  thread_local codec::ChunkEncoder enc;  // keeps its buffers between runs
  enc.clear();
  for (size_t i = 0; i < n; ++i) enc.append(run[i].ts, run[i].value);
  const std::string chunk = enc.finish();
  codec::put_uvarint(&out, chunk.size());
  codec::put_uvarint(&out, static_cast<uint64_t>(run[n - 1].ts) - static_cast<uint64_t>(prev_last));
  out += chunk;
}

void SeriesPoints::close_open_run() {
  if (closed_count_ == 0) closed_first_ts_ = open_.front().ts;
  const size_t offset = packed_.size();
  append_frame(packed_, open_.data(), open_.size(),
               closed_count_ == 0 ? closed_first_ts_ : closed_last_ts_);
  closed_last_ts_ = open_.back().ts;
  closed_count_ += static_cast<uint32_t>(open_.size());
  open_.clear();
  if (late_) late_->frames.push_back({closed_last_ts_, offset});
}

bool SeriesPoints::insert(int64_t ts, double value) {
  if (closed_count_ == 0 || ts > closed_last_ts_) {
    if (open_.empty() || open_.back().ts < ts) {
      open_.push_back({ts, value});
    } else {
      auto it = std::lower_bound(open_.begin(), open_.end(), ts,
                                 [](const Sample& a, int64_t t) { return a.ts < t; });
      if (it->ts == ts) {  // it is valid: open_.back().ts >= ts
        it->value = value;
        return true;
      }
      open_.insert(it, {ts, value});
    }
    if (open_.size() >= kRunPoints) close_open_run();
    return false;
  }
  if (overwrite_closed(ts, value)) return true;
  std::vector<Sample>& late = late_state().points;
  auto l = std::find_if(late.begin(), late.end(), [ts](const Sample& x) { return x.ts == ts; });
  if (l != late.end()) {
    l->value = value;
    return true;
  }
  late.push_back({ts, value});
  if (late.size() >= std::max<size_t>(64, closed_count_ / 256)) merge_late();
  return false;
}

SeriesPoints::Late& SeriesPoints::late_state() {
  if (late_) return *late_;
  late_ = std::make_unique<Late>();
  size_t offset = 0;  // where a frame starts: where the previous one's chunk ended
  for_each_frame(packed_, closed_first_ts_, [&](std::string_view chunk, int64_t last) {
    late_->frames.push_back({last, offset});
    offset = static_cast<size_t>(chunk.data() + chunk.size() - packed_.data());
    return true;
  });
  return *late_;
}

std::string_view SeriesPoints::chunk_at(size_t offset) const {
  const auto* p = reinterpret_cast<const uint8_t*>(packed_.data()) + offset;
  const auto* end = reinterpret_cast<const uint8_t*>(packed_.data()) + packed_.size();
  uint64_t len = 0, delta = 0;
  // The frames are written by this process: a failed read is a programmer error.
  if (!codec::get_uvarint(&p, end, &len) || !codec::get_uvarint(&p, end, &delta)) return {};
  return {reinterpret_cast<const char*>(p), static_cast<size_t>(len)};
}

bool SeriesPoints::overwrite_closed(int64_t ts, double value) {
  if (closed_count_ == 0 || ts < closed_first_ts_ || ts > closed_last_ts_) return false;
  std::vector<Frame>& frames = late_state().frames;
  // The only frame that can hold ts: the first whose last timestamp is not older.
  const auto frame = std::lower_bound(frames.begin(), frames.end(), ts,
                                      [](const Frame& f, int64_t t) { return f.last_ts < t; });
  if (frame == frames.end()) return false;  // not reached: ts <= closed_last_ts_
  const std::string_view chunk = chunk_at(frame->offset);
  codec::ChunkDecoder dec(chunk);
  if (!dec.holds_timestamp(ts)) return false;  // a gap between its points: a late point
  thread_local std::vector<Sample> run;
  run.clear();
  int64_t t;
  double v;
  while (dec.next(t, v)) run.push_back({t, t == ts ? value : v});
  std::string coded;
  append_frame(coded, run.data(), run.size(),
               frame == frames.begin() ? closed_first_ts_ : (frame - 1)->last_ts);
  const size_t old_size =
      static_cast<size_t>(chunk.data() + chunk.size() - (packed_.data() + frame->offset));
  packed_.replace(frame->offset, old_size, coded);
  if (coded.size() != old_size)
    for (auto f = frame + 1; f != frames.end(); ++f)
      f->offset = f->offset + coded.size() - old_size;
  return true;
}

void SeriesPoints::merge_late() {
  Late& late = *late_;
  std::vector<Sample>& points = late.points;
  std::sort(points.begin(), points.end(), by_ts);
  // Every late point is older than closed_last_ts_, so it falls in the first frame whose last
  // timestamp is not older: that frame is decoded, merged and coded again, and keeps its last
  // timestamp, so the frames without late points (their headers too) are copied as they are.
  // A late point older than every closed one joins the first frame.
  const int64_t first_ts = std::min(closed_first_ts_, points.front().ts);
  std::string out;
  out.reserve(packed_.size() + points.size() * 4);
  thread_local std::vector<Sample> run;
  std::vector<Frame> frames;  // the new index, built as `out` is written
  frames.reserve(late.frames.size() + points.size() / kRunPoints + 1);
  size_t k = 0;
  int64_t prev_last = first_ts;
  for (size_t i = 0; i < late.frames.size(); ++i) {
    const Frame& f = late.frames[i];
    const size_t frame_end =
        i + 1 < late.frames.size() ? late.frames[i + 1].offset : packed_.size();
    size_t k_end = k;
    while (k_end < points.size() && points[k_end].ts <= f.last_ts) ++k_end;
    if (k_end == k) {
      frames.push_back({f.last_ts, out.size()});
      out.append(packed_, f.offset, frame_end - f.offset);
      prev_last = f.last_ts;
      continue;
    }
    run.clear();
    codec::ChunkDecoder dec(chunk_at(f.offset));
    int64_t t;
    double v;
    size_t m = k;
    while (dec.next(t, v)) {
      for (; m < k_end && points[m].ts < t; ++m) run.push_back(points[m]);
      run.push_back({t, v});
    }
    for (; m < k_end; ++m) run.push_back(points[m]);
    // Past two runs' worth it is split into runs of about kRunPoints.
    const size_t pieces = run.size() > 2 * kRunPoints ? run.size() / kRunPoints : 1;
    for (size_t j = 0; j < pieces; ++j) {
      const size_t from = run.size() * j / pieces, to = run.size() * (j + 1) / pieces;
      frames.push_back({run[to - 1].ts, out.size()});
      append_frame(out, run.data() + from, to - from, prev_last);
      prev_last = run[to - 1].ts;
    }
    k = k_end;
  }
  closed_first_ts_ = first_ts;
  closed_count_ += static_cast<uint32_t>(points.size());
  out.shrink_to_fit();
  packed_ = std::move(out);
  late.frames = std::move(frames);
  points = {};
}

std::vector<Sample> SeriesPoints::to_vector() const {
  std::vector<Sample> out;
  out.reserve(size());
  scan(INT64_MIN, INT64_MAX, [&](const Sample& s) { out.push_back(s); });
  return out;
}

std::optional<int64_t> SeriesPoints::first_ts() const {
  std::optional<int64_t> first;
  if (closed_count_ > 0)
    first = closed_first_ts_;
  else if (!open_.empty())
    first = open_.front().ts;
  if (late_)
    for (const Sample& x : late_->points)
      if (!first || x.ts < *first) first = x.ts;
  return first;
}

bool SeriesPoints::has_points(int64_t start, int64_t end) const {
  if (start > end) return false;
  auto it = std::lower_bound(open_.begin(), open_.end(), start,
                             [](const Sample& a, int64_t t) { return a.ts < t; });
  if (it != open_.end() && it->ts <= end) return true;
  if (late_ && std::any_of(late_->points.begin(), late_->points.end(),
                           [&](const Sample& x) { return x.ts >= start && x.ts <= end; }))
    return true;
  if (closed_count_ == 0 || closed_first_ts_ > end || closed_last_ts_ < start) return false;
  bool found = false;
  for_each_frame(packed_, closed_first_ts_, [&](std::string_view chunk, int64_t last) {
    if (last < start) return true;
    codec::ChunkDecoder dec(chunk);
    int64_t t;
    double v;
    while (dec.next(t, v))
      if (t >= start) {
        found = t <= end;
        return false;
      }
    return false;
  });
  return found;
}

}  // namespace fp::tsdb
