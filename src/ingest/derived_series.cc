#include "ingest/derived_series.h"

namespace fp {

bool add_heartbeat_series(ReadingBatch& out, const HeartbeatReport& r) {
  if (!r.battery_level && !r.signal_strength) return false;
  const uint32_t device = out.intern_device(r.device_id);
  const int64_t ts = r.device_ts_ms.value_or(r.received_ms);
  if (r.battery_level) out.add(device, out.intern_metric("battery_level"), ts, *r.battery_level);
  if (r.signal_strength)
    out.add(device, out.intern_metric("signal_strength"), ts, *r.signal_strength);
  return true;
}

}  // namespace fp
