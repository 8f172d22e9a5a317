#include "mqtt/message_ingest.h"

#include "ingest/heartbeat.h"
#include "ingest/telemetry_json.h"
#include "mqtt/batch_rollback.h"
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
    if (Status st = sinks.ingestor.admit_new_devices({&report->device_id, 1}, now, nullptr);
        !st.ok())
      return {reason::kQuotaExceeded, "registration_rate_limit", st.message()};
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
  auto batch = std::make_shared<ReadingBatch>();
  auto admission = std::make_shared<SeriesAdmission>(sinks.ingestor.limits(), now);
  Refusal r = decode_telemetry_message(sinks, target, payload, now, *batch, *admission);
  if (!r.submitted()) return r;
  submit_telemetry_batch(sinks, std::move(batch), now, std::move(admission), std::move(done));
  return {};
}

Refusal decode_telemetry_message(const IngestSinks& sinks, const TopicMatch& target,
                                 std::string_view payload, int64_t now, ReadingBatch& batch,
                                 SeriesAdmission& admission) {
  metrics::ServerMetrics& m = sinks.server_metrics;
  TelemetryJsonOptions opt;
  opt.path_device_id = target.device_id;
  opt.admission = &admission;
  admission.begin_request();
  size_t refused_before[kLimitKindCount];
  for (int k = 0; k < kLimitKindCount; ++k) refused_before[k] = admission.refused(LimitKind(k));
  auto refused_here = [&](int k) { return admission.refused(LimitKind(k)) - refused_before[k]; };
  const BatchMark mark = mark_of(batch);
  std::vector<ItemError> errors;
  size_t items = 0;
  Status st = decode_telemetry_json(payload, opt, now, batch, errors, &items);
  if (sinks.activity && (!st.ok() || !errors.empty()))
    sinks.activity->record_rejected(target.device_id, now, std::max<size_t>(1, errors.size()));
  // A reading that fails adds nothing, so nothing to take out while none went in.
  const bool added =
      batch.points().size() > mark.points || batch.attributes().size() > mark.attributes;
  size_t refused_total = 0;
  for (int k = 1; k < kLimitKindCount; ++k) refused_total += refused_here(k);
  if (st.ok() && refused_total > 0 && refused_total == errors.size() && !added) {
    // Every reading was refused by a cardinality limit: a quota, not a format problem.
    LimitKind kind = LimitKind::kNone;
    for (int k = 1; k < kLimitKindCount && kind == LimitKind::kNone; ++k)
      if (refused_here(k) > 0) kind = static_cast<LimitKind>(k);
    return {reason::kQuotaExceeded, limit_label(kind).data(), errors.front().message};
  }
  if (!st.ok() || !added)
    return {reason::kPayloadFormatInvalid, "invalid_telemetry",
            !st.ok()         ? st.message()
            : errors.empty() ? std::string("no readings")
                             : errors.front().message};
  // Devices already in the batch were admitted with an earlier message.
  const std::span<const std::string> new_devices = std::span(batch.devices()).subspan(mark.devices);
  if (Status reg = sinks.ingestor.admit_new_devices(new_devices, now, nullptr); !reg.ok()) {
    roll_back_to(batch, mark);
    return {reason::kQuotaExceeded, "registration_rate_limit", reg.message()};
  }
  if (sinks.catalog) {
    std::string refused = sinks.ingestor.limits().admit_attribute_keys(
        batch,
        [&sinks](const std::string& device) {
          std::vector<std::string> keys;
          if (auto known = sinks.catalog->device_attributes(device); known.ok())
            for (auto& a : *known) keys.push_back(std::move(a.key));
          return keys;
        },
        mark.attributes);
    if (!refused.empty()) {
      roll_back_to(batch, mark);
      return {reason::kQuotaExceeded, limit_label(LimitKind::kAttributesPerDevice).data(),
              std::move(refused)};
    }
  }
  batch.set_wire_bytes(mark.wire_bytes + payload.size());
  if (!errors.empty()) {
    size_t by_limits = 0;
    for (int k = 1; k < kLimitKindCount; ++k) {
      const auto kind = static_cast<LimitKind>(k);
      if (const size_t n = refused_here(k); n > 0) {
        m.ingest_rejected.with({std::string(limit_label(kind))}).inc(static_cast<double>(n));
        by_limits += n;
      }
    }
    if (errors.size() > by_limits)
      m.ingest_rejected.with({"invalid_reading"})
          .inc(static_cast<double>(errors.size() - by_limits));
  }
  return {};
}

void submit_telemetry_batch(const IngestSinks& sinks, std::shared_ptr<ReadingBatch> batch,
                            int64_t now, std::shared_ptr<SeriesAdmission> admission,
                            std::function<void(bool durable)> done) {
  metrics::ServerMetrics& m = sinks.server_metrics;
  const Clock& clock = sinks.clock;
  RateMeter* rate = sinks.ingest_rate;
  const size_t points = batch->points().size();
  metrics::Counter* counted = sinks.points_mqtt;
  sinks.writes.submit_telemetry(
      std::move(batch), now,
      [&m, &clock, rate, points, counted, admission = std::move(admission),
       done = std::move(done)](TelemetryAck ack) mutable {
        admission.reset();  // the batch's series are in the index now (or were not written)
        if (ack.status.ok()) {
          (counted ? *counted : m.points_ingested.with({"mqtt"})).inc(static_cast<double>(points));
          if (rate) rate->record(clock.now_ms(), points);
        } else {
          m.ingest_rejected.with({"overloaded_or_storage"}).inc(static_cast<double>(points));
        }
        done(ack.status.ok());
      });
}

}  // namespace fp::mqtt
