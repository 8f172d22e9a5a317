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
  std::vector<std::unique_ptr<SeriesAdmission>> admissions(1);
  Refusal r = decode_telemetry_message(sinks, target, payload, now, *batch, admissions[0]);
  if (!r.submitted()) return r;
  submit_telemetry_batch(sinks, std::move(batch), now, std::move(admissions), std::move(done));
  return {};
}

Refusal decode_telemetry_message(const IngestSinks& sinks, const TopicMatch& target,
                                 std::string_view payload, int64_t now, ReadingBatch& out,
                                 std::unique_ptr<SeriesAdmission>& admission_out) {
  metrics::ServerMetrics& m = sinks.server_metrics;
  TelemetryJsonOptions opt;
  opt.path_device_id = target.device_id;
  auto admission = std::make_unique<SeriesAdmission>(sinks.ingestor.limits(), now);
  opt.admission = admission.get();
  ReadingBatch* batch = &out;
  std::vector<ItemError> errors;
  size_t items = 0;
  Status st = decode_telemetry_json(payload, opt, now, *batch, errors, &items);
  batch->set_wire_bytes(payload.size());
  if (sinks.activity && (!st.ok() || !errors.empty()))
    sinks.activity->record_rejected(target.device_id, now, std::max<size_t>(1, errors.size()));
  if (st.ok() && admission->refused_total() > 0 && admission->refused_total() == errors.size() &&
      batch->empty()) {
    // Every reading was refused by a cardinality limit: a quota, not a format problem.
    LimitKind kind = LimitKind::kNone;
    for (int k = 1; k < kLimitKindCount && kind == LimitKind::kNone; ++k)
      if (admission->refused(static_cast<LimitKind>(k)) > 0) kind = static_cast<LimitKind>(k);
    return {reason::kQuotaExceeded, limit_label(kind).data(), errors.front().message};
  }
  if (!st.ok() || batch->empty())
    return {reason::kPayloadFormatInvalid, "invalid_telemetry",
            !st.ok()         ? st.message()
            : errors.empty() ? std::string("no readings")
                             : errors.front().message};
  if (Status reg = sinks.ingestor.admit_new_devices(batch->devices(), now, nullptr); !reg.ok())
    return {reason::kQuotaExceeded, "registration_rate_limit", reg.message()};
  if (sinks.catalog) {
    std::string refused =
        sinks.ingestor.limits().admit_attribute_keys(*batch, [&sinks](const std::string& device) {
          std::vector<std::string> keys;
          if (auto known = sinks.catalog->device_attributes(device); known.ok())
            for (auto& a : *known) keys.push_back(std::move(a.key));
          return keys;
        });
    if (!refused.empty())
      return {reason::kQuotaExceeded, limit_label(LimitKind::kAttributesPerDevice).data(),
              std::move(refused)};
  }
  if (!errors.empty()) {
    size_t by_limits = 0;
    for (int k = 1; k < kLimitKindCount; ++k) {
      const auto kind = static_cast<LimitKind>(k);
      if (const size_t n = admission->refused(kind); n > 0) {
        m.ingest_rejected.with({std::string(limit_label(kind))}).inc(static_cast<double>(n));
        by_limits += n;
      }
    }
    if (errors.size() > by_limits)
      m.ingest_rejected.with({"invalid_reading"})
          .inc(static_cast<double>(errors.size() - by_limits));
  }
  admission_out = std::move(admission);
  return {};
}

void submit_telemetry_batch(const IngestSinks& sinks, std::shared_ptr<ReadingBatch> batch,
                            int64_t now, std::vector<std::unique_ptr<SeriesAdmission>> admissions,
                            std::function<void(bool durable)> done) {
  metrics::ServerMetrics& m = sinks.server_metrics;
  const Clock& clock = sinks.clock;
  RateMeter* rate = sinks.ingest_rate;
  const size_t points = batch->points().size();
  metrics::Counter* counted = sinks.points_mqtt;
  sinks.writes.submit_telemetry(
      std::move(batch), now,
      [&m, &clock, rate, points, counted,
       admissions = std::make_shared<decltype(admissions)>(std::move(admissions)),
       done = std::move(done)](TelemetryAck ack) mutable {
        admissions->clear();  // the batch's series are in the index now (or were not written)
        if (ack.status.ok()) {
          (counted ? *counted : m.points_ingested.with({"mqtt"})).inc(static_cast<double>(points));
          if (rate) rate->record(clock.now_ms(), points);
        } else {
          m.ingest_rejected.with({"overloaded_or_storage"}).inc(static_cast<double>(points));
        }
        done(ack.status.ok());
      });
}

void append_batch(ReadingBatch& into, const ReadingBatch& from) {
  std::vector<uint32_t> device(from.devices().size()), metric(from.metrics().size());
  for (size_t i = 0; i < device.size(); ++i) device[i] = into.intern_device(from.devices()[i]);
  for (size_t i = 0; i < metric.size(); ++i) metric[i] = into.intern_metric(from.metrics()[i]);
  const SeriesPairs& ids = from.resolved_series();
  SeriesPairs& into_ids = into.resolved_series();
  // Ids hold while the index's removals() counter equals the generation: the oldest one read
  // is the one to check (a removal since then makes the Ingestor look every point up again).
  if (!ids.empty() && (into_ids.empty() || ids.generation < into_ids.generation))
    into_ids.generation = ids.generation;
  const std::vector<uint32_t>& unstamped = from.unstamped();
  size_t next_unstamped = 0;
  for (uint32_t i = 0; i < from.points().size(); ++i) {
    const Point& p = from.points()[i];
    const uint32_t d = device[p.device], mi = metric[p.metric];
    if (next_unstamped < unstamped.size() && unstamped[next_unstamped] == i) {
      into.add_unstamped(d, mi, p.ts_ms, p.value);
      ++next_unstamped;
    } else {
      into.add(d, mi, p.ts_ms, p.value);
    }
    if (const uint32_t* id = ids.find(SeriesPairs::key(p.device, p.metric)))
      into_ids.put(SeriesPairs::key(d, mi), *id);
  }
  for (const Attribute& a : from.attributes())
    into.add_attribute(device[a.device], a.key, a.value, a.ts_ms);
  into.set_wire_bytes(into.wire_bytes() + from.wire_bytes());
}

}  // namespace fp::mqtt
