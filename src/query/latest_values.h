#pragma once
// Latest values without a lookup per series: the index's flat per-device table (metric, id)
// is walked under its shared lock and each series' latest point is read from the head's
// lock-free slot (a seqlock). What the latest endpoints and "latest of all" read.

#include <optional>
#include <string_view>

#include "storage/tsdb/time_series_store.h"

namespace fp::query {

// Calls fn(metric, latest) for each series of `device` in metric-name order, `latest` being
// std::optional<tsdb::Sample> (none: the series has no point left to read); with
// `only_metric`, that series alone (one lookup, no walk). fn runs under the index's shared
// lock: it must not call into the index (the store's other reads are fine). Any thread.
template <typename Fn>
void for_each_latest(const tsdb::TimeSeriesStore& store, std::string_view device,
                     std::optional<std::string_view> only_metric, Fn&& fn) {
  if (only_metric) {
    if (auto id = store.index().find(device, *only_metric)) fn(*only_metric, store.latest(*id));
    return;
  }
  store.index().for_each_metric(
      device, [&](std::string_view metric, tsdb::SeriesId id) { fn(metric, store.latest(id)); });
}

// Calls fn(device, metric, sample) for every series that has a latest point, in series-id
// order: one sequential pass over the index's keys and the head's per-id latest slots, no
// lookup per device or series. Same locking as above.
template <typename Fn>
void for_each_latest_of_all(const tsdb::TimeSeriesStore& store, Fn&& fn) {
  store.index().for_each_series(
      [&](std::string_view device, std::string_view metric, tsdb::SeriesId id) {
        if (auto s = store.latest(id)) fn(device, metric, *s);
      });
}

}  // namespace fp::query
