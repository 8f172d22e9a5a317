#include "storage/tsdb/series_points.h"

#include <climits>

#include "storage/codec/chunk_encoder.h"

namespace fp::tsdb {
namespace {

bool by_ts(const Sample& a, const Sample& b) {
  return a.ts < b.ts;
}

}  // namespace

void SeriesPoints::append_frame(std::string& out, const std::vector<Sample>& run,
                                int64_t prev_last) {
  thread_local codec::ChunkEncoder enc;  // keeps its buffers between runs
  enc.clear();
  for (const Sample& s : run) enc.append(s.ts, s.value);
  const std::string chunk = enc.finish();
  codec::put_uvarint(&out, chunk.size());
  codec::put_uvarint(&out, static_cast<uint64_t>(run.back().ts) - static_cast<uint64_t>(prev_last));
  out += chunk;
}

void SeriesPoints::close_open_run() {
  if (closed_count_ == 0) closed_first_ts_ = open_.front().ts;
  append_frame(packed_, open_, closed_count_ == 0 ? closed_first_ts_ : closed_last_ts_);
  closed_last_ts_ = open_.back().ts;
  closed_count_ += static_cast<uint32_t>(open_.size());
  open_.clear();
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
  auto l = std::find_if(late_.begin(), late_.end(), [ts](const Sample& x) { return x.ts == ts; });
  if (l != late_.end()) {
    l->value = value;
    return true;
  }
  late_.push_back({ts, value});
  if (late_.size() >= std::max<size_t>(256, closed_count_ / 64)) merge_late();
  return false;
}

bool SeriesPoints::overwrite_closed(int64_t ts, double value) {
  if (closed_count_ == 0 || ts < closed_first_ts_ || ts > closed_last_ts_) return false;
  const auto* base = reinterpret_cast<const uint8_t*>(packed_.data());
  const auto* p = base;
  const auto* end = base + packed_.size();
  int64_t last = closed_first_ts_;
  while (p < end) {
    const auto* frame = p;
    uint64_t len = 0, delta = 0;
    if (!codec::get_uvarint(&p, end, &len) || !codec::get_uvarint(&p, end, &delta)) return false;
    last = static_cast<int64_t>(static_cast<uint64_t>(last) + delta);
    const std::string_view chunk(reinterpret_cast<const char*>(p), len);
    p += len;
    if (last < ts) continue;
    // The only frame that can hold ts.
    std::vector<Sample> run;
    run.reserve(kRunPoints);
    codec::ChunkDecoder dec(chunk);
    int64_t t;
    double v;
    bool found = false;
    while (dec.next(t, v)) {
      if (t == ts) {
        v = value;
        found = true;
      }
      run.push_back({t, v});
    }
    if (!found) return false;
    std::string coded;
    append_frame(coded, run, static_cast<int64_t>(static_cast<uint64_t>(last) - delta));
    packed_.replace(static_cast<size_t>(frame - base), static_cast<size_t>(p - frame), coded);
    return true;
  }
  return false;
}

void SeriesPoints::repack(const std::vector<Sample>& points) {
  packed_.clear();
  closed_count_ = 0;
  std::vector<Sample> run;
  run.reserve(kRunPoints);
  for (size_t i = 0; i < points.size(); i += kRunPoints) {
    run.assign(
        points.begin() + static_cast<std::ptrdiff_t>(i),
        points.begin() + static_cast<std::ptrdiff_t>(std::min(points.size(), i + kRunPoints)));
    if (closed_count_ == 0) closed_first_ts_ = run.front().ts;
    append_frame(packed_, run, closed_count_ == 0 ? closed_first_ts_ : closed_last_ts_);
    closed_last_ts_ = run.back().ts;
    closed_count_ += static_cast<uint32_t>(run.size());
  }
  packed_.shrink_to_fit();
}

void SeriesPoints::merge_late() {
  std::vector<Sample> all;
  all.reserve(closed_count_ + late_.size());
  for_each_frame(packed_, closed_first_ts_, [&](std::string_view chunk, int64_t) {
    codec::ChunkDecoder dec(chunk);
    int64_t t;
    double v;
    while (dec.next(t, v)) all.push_back({t, v});
    return true;
  });
  std::sort(late_.begin(), late_.end(), by_ts);
  const auto mid = static_cast<std::ptrdiff_t>(all.size());
  all.insert(all.end(), late_.begin(), late_.end());
  std::inplace_merge(all.begin(), all.begin() + mid, all.end(), by_ts);
  late_ = {};
  repack(all);
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
  for (const Sample& x : late_)
    if (!first || x.ts < *first) first = x.ts;
  return first;
}

bool SeriesPoints::has_points(int64_t start, int64_t end) const {
  if (start > end) return false;
  auto it = std::lower_bound(open_.begin(), open_.end(), start,
                             [](const Sample& a, int64_t t) { return a.ts < t; });
  if (it != open_.end() && it->ts <= end) return true;
  if (std::any_of(late_.begin(), late_.end(),
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
