#include "mqtt/batch_rollback.h"

#include <utility>

namespace fp::mqtt {

BatchMark mark_of(const ReadingBatch& batch) {
  return {batch.devices().size(), batch.metrics().size(), batch.points().size(),
          batch.attributes().size(), batch.wire_bytes()};
}

void roll_back_to(ReadingBatch& batch, const BatchMark& mark) {
  if (batch.devices().size() == mark.devices && batch.metrics().size() == mark.metrics &&
      batch.points().size() == mark.points && batch.attributes().size() == mark.attributes) {
    batch.set_wire_bytes(mark.wire_bytes);
    return;
  }
  // Interned again in the same order, the kept devices and metrics keep their indexes.
  ReadingBatch kept;
  for (size_t d = 0; d < mark.devices; ++d) kept.intern_device(batch.devices()[d]);
  for (size_t m = 0; m < mark.metrics; ++m) kept.intern_metric(batch.metrics()[m]);
  kept.reserve(mark.points);
  const SeriesPairs& ids = batch.resolved_series();
  SeriesPairs& kept_ids = kept.resolved_series();
  kept_ids.generation = ids.generation;
  const std::vector<uint32_t>& unstamped = batch.unstamped();
  size_t next_unstamped = 0;
  for (uint32_t i = 0; i < mark.points; ++i) {
    const Point& p = batch.points()[i];
    if (next_unstamped < unstamped.size() && unstamped[next_unstamped] == i) {
      kept.add_unstamped(p.device, p.metric, p.ts_ms, p.value);
      ++next_unstamped;
    } else {
      kept.add(p.device, p.metric, p.ts_ms, p.value);
    }
    const uint64_t key = SeriesPairs::key(p.device, p.metric);
    if (const uint32_t* id = ids.find(key)) kept_ids.put(key, *id);
  }
  for (size_t a = 0; a < mark.attributes; ++a) {
    const Attribute& attr = batch.attributes()[a];
    kept.add_attribute(attr.device, attr.key, attr.value, attr.ts_ms);
  }
  kept.set_wire_bytes(mark.wire_bytes);
  batch = std::move(kept);
}

}  // namespace fp::mqtt
