#pragma once
// The server-timestamp invariants, checked by the decoder fuzz targets on what they decoded:
// stamped against an empty store, every point that came without a timestamp lands on a
// millisecond of its own (per series) at or after its receive time, never on an explicit point
// written before it; explicit points stay where they were.

#include <cstdint>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "batch_invariants.h"
#include "ingest/server_timestamps.h"
#include "storage/fs/fault_injecting_file_system.h"
#include "storage/tsdb/time_series_store.h"

namespace fp::fuzz {

inline void check_stamping(ReadingBatch& batch) {
  if (batch.unstamped().empty()) return;
  FaultInjectingFileSystem fs;
  tsdb::StoreOptions o;
  o.dir = "/tsdb";
  o.background = false;
  auto store = tsdb::TimeSeriesStore::open(fs, o, {}, nullptr);
  check(store.ok());
  std::vector<char> server(batch.points().size(), 0);
  for (uint32_t i : batch.unstamped()) server[i] = 1;
  std::vector<int64_t> before;
  for (const Point& p : batch.points()) before.push_back(p.ts_ms);

  ServerTimestamps stamps(**store);
  ReadingBatch* group[] = {&batch};
  stamps.stamp_group(group);
  stamps.end_group();
  check(batch.unstamped().empty());

  std::map<std::pair<uint32_t, uint32_t>, std::set<int64_t>> taken;  // explicit so far + stamps
  for (size_t i = 0; i < batch.points().size(); ++i) {
    const Point& p = batch.points()[i];
    auto& series = taken[{p.device, p.metric}];
    if (!server[i]) {
      check(p.ts_ms == before[i]);
      series.insert(p.ts_ms);
      continue;
    }
    check(p.ts_ms >= before[i]);
    check(series.insert(p.ts_ms).second);
  }
}

}  // namespace fp::fuzz
