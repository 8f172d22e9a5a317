#pragma once
// ReplayApplier: applies the batch records of a WAL replay to the head in bulk, with the same
// result as decoding each into a ReadingBatch and calling TimeSeriesStore::apply() in order.
//
// Why it is faster: records are decoded in place (BatchRecordView, no per-name strings); a
// device's series ids are cached across records (one hash lookup per device and record
// instead of an index lookup per point); and points are buffered, then grouped by series
// with a counting sort (stable, so each series keeps its WAL order) and appended one run per
// series (Head::append_run), touching each series' memory once per flush instead of once per
// point. The buffer is flushed when full, at the end, and before anything that removes
// series (the caller calls before_removal()), so replay order is kept where it matters.
// With `background`, a full buffer is applied on a helper thread while the next one fills
// (decoding and applying overlap; the head's stripe locks and the index's lock make that
// safe, and only one buffer is applied at a time, in order).
//
// It also gathers, per device, the newest receive time of its batches since its last removal,
// for last-seen times (for_each_seen), without a listener call per record.
//
// Called from one thread (TimeSeriesStore::open's); the helper thread is its own business.

#include <cstdint>
#include <future>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "storage/tsdb/batch_record.h"
#include "storage/tsdb/head.h"
#include "storage/tsdb/series_index.h"
#include "util/result.h"

namespace fp::tsdb {

class ReplayApplier {
 public:
  // `index` and `head` must outlive the applier. `buffer_points` bounds the points held
  // before they are applied (memory: about 60 bytes each, two buffers with `background`).
  ReplayApplier(SeriesIndex& index, Head& head, size_t buffer_points = 1'000'000,
                bool background = true);
  ~ReplayApplier();  // waits for the helper thread
  ReplayApplier(const ReplayApplier&) = delete;
  ReplayApplier& operator=(const ReplayApplier&) = delete;

  // Decodes one batch record (the payload after the store's type byte and receive time) and
  // queues its points. kCorruption (nothing queued) when the record is malformed or names a
  // device or metric twice. Returns the number of points through `points`.
  Status add_batch(std::string_view record, int64_t received_ms, size_t* points);
  // A batch record a checkpoint covers (its points are in blocks already): only its devices'
  // last-seen time is taken, in order with removals; nothing is queued. kCorruption when the
  // record is malformed.
  Status add_seen_only(std::string_view record, int64_t received_ms);
  // Applies every queued point to the head; returns once they are all there.
  void flush();
  // Call before a device's series are removed from the index (flushes, forgets cached ids
  // and its last-seen time); `keep_ids` when only its last-seen time goes (a forget record).
  void before_removal(std::string_view device, bool keep_ids = false);
  // Call before every series is removed.
  void before_remove_all();
  // Calls fn(device, newest receive time) for every device with a batch since its last
  // removal. Call after flush().
  template <typename Fn>
  void for_each_seen(Fn&& fn) const {
    for (const Device& d : devices_)
      if (d.seen) fn(std::string_view(d.name), d.last_received_ms);
  }

 private:
  static constexpr SeriesId kUnknown = UINT32_MAX;
  struct Device {
    std::string name;
    std::vector<SeriesId> ids;  // by metric number (metrics_), kUnknown: not resolved yet
    int64_t last_received_ms = 0;
    bool seen = false;
    uint64_t batch_stamp = 0;  // the record that last named it (duplicate check)
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using NameMap = std::unordered_map<std::string, uint32_t, Hash, std::equal_to<>>;

  struct Buffer {
    std::vector<SeriesId> ids;
    std::vector<Sample> samples;
  };
  uint32_t device_number(std::string_view name);
  // Starts applying pending_ (on the helper thread with background_), after the previous one.
  void hand_off();
  void wait();
  void apply(Buffer& b);  // counting sort by series id, then one append_run per series
  uint32_t metric_number(std::string_view name);

  SeriesIndex& index_;
  Head& head_;
  const size_t buffer_points_;
  const bool background_;
  NameMap device_numbers_;
  std::vector<Device> devices_;
  NameMap metric_numbers_;
  std::vector<std::string> metrics_;
  std::vector<uint64_t> metric_stamps_;  // by metric number: the record that last named it
  uint64_t batch_stamp_ = 0;

  // Scratch, reused across records and flushes.
  BatchRecordView view_;
  std::vector<uint32_t> batch_devices_;  // record's device index -> device number
  std::vector<uint32_t> batch_metrics_;  // record's metric index -> metric number
  Buffer pending_;                       // filled by add_batch
  Buffer applying_;                      // being applied (by the helper thread while worker_ runs)
  std::future<void> worker_;             // valid while the helper applies applying_
  std::vector<uint32_t> run_start_;      // apply() only: by series id
  std::vector<Sample> sorted_;           // apply() only
};

}  // namespace fp::tsdb
