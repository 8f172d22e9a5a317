#include "mqtt/message_ingest.h"

#include "ingest/heartbeat.h"
#include "ingest/telemetry_json.h"
#include "mqtt/packet_types.h"

namespace fp::mqtt {

Refusal submit_message(const IngestSinks& sinks, const TopicMatch& target, std::string_view payload,
                       std::function<void(bool durable)> done) {
  const int64_t now = sinks.clock.now_ms();
  metrics::ServerMetrics& m = sinks.server_metrics;
  const Clock& clock = sinks.clock;
  RateMeter* rate = sinks.ingest_rate;
  if (target.kind == MessageKind::kHeartbeat) {
    auto report = decode_heartbeat(payload, target.device_id, now);
    if (!report.ok()) {
      if (sinks.activity) sinks.activity->record_rejected(target.device_id, now);
      return {reason::kPayloadFormatInvalid, "invalid_heartbeat", report.status().message()};
    }
    report->wire_bytes = static_cast<uint32_t>(payload.size());
    sinks.writes.submit_heartbeat(std::move(*report),
                                  [&m, &clock, rate, done = std::move(done)](HeartbeatAck ack) {
                                    if (ack.status.ok()) {
                                      m.heartbeats.get().inc();
                                      if (rate) rate->record(clock.now_ms());
                                    }
                                    done(ack.status.ok());
                                  });
    return {};
  }
  TelemetryJsonOptions opt;
  opt.path_device_id = target.device_id;
  auto batch = std::make_shared<ReadingBatch>();
  std::vector<ItemError> errors;
  size_t items = 0;
  Status st = decode_telemetry_json(payload, opt, now, *batch, errors, &items);
  batch->set_wire_bytes(payload.size());
  if (sinks.activity && (!st.ok() || !errors.empty()))
    sinks.activity->record_rejected(target.device_id, now, std::max<size_t>(1, errors.size()));
  if (!st.ok() || batch->empty())
    return {reason::kPayloadFormatInvalid, "invalid_telemetry",
            !st.ok()         ? st.message()
            : errors.empty() ? std::string("no readings")
                             : errors.front().message};
  if (!errors.empty())
    m.ingest_rejected.with({"invalid_reading"}).inc(static_cast<double>(errors.size()));
  const size_t points = batch->points().size();
  sinks.writes.submit_telemetry(
      std::move(batch), now, [&m, &clock, rate, points, done = std::move(done)](TelemetryAck ack) {
        if (ack.status.ok()) {
          m.points_ingested.with({"mqtt"}).inc(static_cast<double>(points));
          if (rate) rate->record(clock.now_ms(), points);
        } else {
          m.ingest_rejected.with({"overloaded_or_storage"}).inc(static_cast<double>(points));
        }
        done(ack.status.ok());
      });
  return {};
}

}  // namespace fp::mqtt
