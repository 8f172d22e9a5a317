#pragma once
// ServerTimestamps: gives every point that came without a device timestamp a millisecond of
// its own, so distinct readings stay distinct (a point at an existing (series, ms) would
// overwrite it).
//
// The rule: a point's server stamp is the first millisecond t >= max(receive time, the last
// stamp this process gave its series + 1) at which its series holds no point — neither a
// stored one (head, frozen layer, blocks) nor an explicit one that an earlier batch of the same
// commit group, or an earlier point of the same batch, is about to write. Stamps are therefore
// strictly increasing per series and follow arrival order; they run ahead of the clock only
// while one series receives more than one reading per millisecond.
//
// Stamping happens on the commit thread before the batch is written to the WAL, so the WAL
// holds final timestamps: replay is deterministic and a crash keeps exactly what was
// acknowledged. The per-series last stamp lives in memory only, in a vector indexed by
// SeriesId; after a restart it is empty and the probe of stored points keeps stamps distinct
// (a device clock in the future never pulls server stamps forward: only points at or after a
// candidate stamp are probed, never used as a base).
//
// Cost: nothing for batches whose points all carry timestamps; otherwise one series lookup per
// distinct (device, metric) of a batch, and a store probe only when the series already holds a
// point at or after the candidate stamp.
//
// Thread safety: commit thread only. `store` must outlive this object.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "model/reading_batch.h"
#include "storage/tsdb/time_series_store.h"

namespace fp {

class ServerTimestamps {
 public:
  explicit ServerTimestamps(const tsdb::TimeSeriesStore& store) : store_(store) {}

  // Stamps the unstamped points of every batch of one commit group, in queue order, and marks
  // the batches stamped. Call before any of them is logged.
  void stamp_group(std::span<ReadingBatch* const> batches);
  // Call once the group was applied (or failed): series created by it keep their last stamp.
  void end_group();
  // Every series was removed (their ids will be reused).
  void forget_all();

 private:
  // One (device, metric) touched by the group.
  struct GroupSeries {
    std::optional<tsdb::SeriesId> id;         // nullopt: not in the index yet
    int64_t new_last = 0;                     // last stamp of a series without an id
    std::optional<int64_t> stored_max;        // its latest stored timestamp, when it has an id
    std::unordered_set<int64_t> explicit_ts;  // explicit points of the group so far
  };

  void stamp_batch(ReadingBatch& batch);
  GroupSeries& series(const ReadingBatch& b, uint32_t device, uint32_t metric);
  int64_t& last(GroupSeries& s) { return s.id ? last_by_id_[*s.id] : s.new_last; }
  // The first t >= from where `s` has no stored point.
  int64_t first_free_stored(const GroupSeries& s, int64_t from) const;

  const tsdb::TimeSeriesStore& store_;
  std::vector<int64_t> last_by_id_;  // by SeriesId; 0 = none yet

  // Group state, cleared by end_group().
  std::unordered_map<std::string, GroupSeries> group_;  // by "device\0metric"
  // Devices with unstamped points in the group being stamped (views into its batches).
  std::unordered_set<std::string_view> group_devices_;
  // Per batch: GroupSeries by device * n_metrics + metric (null: not resolved yet).
  std::vector<GroupSeries*> cells_;
  std::unordered_map<uint64_t, GroupSeries*> sparse_cells_;
  bool dense_ = true;
  std::string key_;
};

}  // namespace fp
