#include "kpi/commit_activity.h"

namespace fp {
namespace {

bool is_battery_metric(const std::string& m) {
  return m == "battery_level" || m == "battery";
}

void record_batch(DeviceActivityLog& log, const ReadingBatch& b, int64_t received_ms) {
  const size_t n = b.devices().size();
  for (size_t i = 0; i < n; ++i)
    log.record_message(b.devices()[i], received_ms, b.wire_bytes() / n);
  for (size_t m = 0; m < b.metrics().size(); ++m) {
    if (!is_battery_metric(b.metrics()[m])) continue;
    for (const Point& p : b.points())
      if (p.metric == m && p.value >= 0 && p.value <= 100)
        log.record_battery(b.devices()[p.device], p.ts_ms, p.value);
  }
}

void record_heartbeat(DeviceActivityLog& log, const HeartbeatReport& h) {
  log.record_message(h.device_id, h.received_ms, h.wire_bytes);
  if (h.device_ts_ms)
    log.record_response_time(h.device_id, h.received_ms,
                             static_cast<double>(h.received_ms - *h.device_ts_ms));
  if (h.battery_level) log.record_battery(h.device_id, h.received_ms, *h.battery_level);
}

}  // namespace

void record_commit(DeviceActivityLog& log, const CommitEvent& e) {
  for (const auto& t : e.telemetry) record_batch(log, *t.batch, t.received_ms);
  for (const HeartbeatReport* h : e.heartbeats) record_heartbeat(log, *h);
  (void)log.write_pending();  // a failure is counted and logged by the log itself
}

}  // namespace fp
