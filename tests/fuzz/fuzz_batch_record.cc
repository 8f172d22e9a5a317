// Fuzzes the WAL batch record decoders: arbitrary bytes must decode or be kCorruption, never
// crash or allocate without bound. The in-place decoder used by replay (through
// ReplayApplier) must accept exactly what decode_batch_record accepts and give the same
// points; a decoded batch must encode back to a record that decodes to itself.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "model/reading_batch.h"
#include "storage/tsdb/batch_record.h"
#include "storage/tsdb/head.h"
#include "storage/tsdb/replay_applier.h"
#include "storage/tsdb/series_index.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view record(reinterpret_cast<const char*>(data), size);
  fp::ReadingBatch batch;
  const fp::Status s = fp::tsdb::decode_batch_record(record, batch);
  if (!s.ok() && s.code() != fp::StatusCode::kCorruption) __builtin_trap();

  fp::tsdb::SeriesIndex index;
  fp::tsdb::Head head;
  fp::tsdb::ReplayApplier applier(index, head, 3, /*background=*/false);
  size_t points = 0;
  const fp::Status r = applier.add_batch(record, 1, &points);
  if (r.ok() != s.ok()) __builtin_trap();
  if (!r.ok()) {
    if (r.code() != fp::StatusCode::kCorruption || points != 0) __builtin_trap();
    return 0;
  }
  applier.flush();
  if (points != batch.points().size()) __builtin_trap();
  // Every point landed on its series (the last one per timestamp wins).
  for (const fp::Point& p : batch.points()) {
    auto id = index.find(batch.devices()[p.device], batch.metrics()[p.metric]);
    if (!id) __builtin_trap();
    bool found = false;
    head.scan(*id, p.ts_ms, p.ts_ms, [&](const fp::tsdb::Sample&) { found = true; });
    if (!found) __builtin_trap();
  }

  std::string again;
  fp::tsdb::encode_batch_record(batch, again);
  fp::ReadingBatch round;
  if (!fp::tsdb::decode_batch_record(again, round).ok()) __builtin_trap();
  if (round.points().size() != batch.points().size() || round.devices() != batch.devices() ||
      round.metrics() != batch.metrics())
    __builtin_trap();
  for (size_t i = 0; i < batch.points().size(); ++i) {
    const fp::Point &a = batch.points()[i], &b = round.points()[i];
    if (a.device != b.device || a.metric != b.metric || a.ts_ms != b.ts_ms ||
        std::memcmp(&a.value, &b.value, 8) != 0)
      __builtin_trap();
  }
  return 0;
}
