// PUBLISH (QoS 0, 1, 2), PUBREL, and the will: decode the payload with the ingest decoders,
// submit it to the Ingestor, and acknowledge once it is durable (Connection::complete).

#include <spdlog/spdlog.h>

#include "ingest/heartbeat.h"
#include "ingest/telemetry_json.h"
#include "mqtt/connection.h"
#include "mqtt/packet_encoder.h"

namespace fp::mqtt {

void Connection::handle_publish(uint8_t flags, std::span<const uint8_t> body) {
  Publish p;
  if (DecodeResult d = decode_publish(version_, flags, body, p); !d.ok())
    return protocol_failure(d);
  server_.messages.fetch_add(1);
  server_.metrics.messages.with({std::to_string(p.qos)}).inc();
  if (p.qos == 2 && session_) {
    // A resent QoS 2 message is stored once: answer the PUBREC again (or later, if pending).
    std::lock_guard lock(session_->mu);
    auto it = session_->awaiting_pubrel.find(p.packet_id);
    if (it != session_->awaiting_pubrel.end()) {
      if (it->second) send(encode_ack(version_, PacketType::kPubrec, p.packet_id, 0));
      return;
    }
    session_->awaiting_pubrel[p.packet_id] = false;
  }
  if (!ingest(p, false)) close(reason::kNotAuthorized, "publish to another device's topic");
}

void Connection::handle_pubrel(const Ack& a) {
  bool known = false;
  if (session_) {
    std::lock_guard lock(session_->mu);
    known = session_->awaiting_pubrel.erase(a.packet_id) > 0;
  }
  send(encode_ack(version_, PacketType::kPubcomp, a.packet_id,
                  known ? reason::kSuccess : reason::kPacketIdNotFound));
}

bool Connection::ingest(const Publish& p, bool is_will) {
  const PacketType ack_type = p.qos == 1   ? PacketType::kPuback
                              : p.qos == 2 ? PacketType::kPubrec
                                           : kNoAck;
  // A message that cannot be stored is answered at once: v5 says why, 3.1.1 acknowledges
  // (it cannot refuse a single message) and the rejection is counted.
  auto refuse = [&](uint8_t code, const char* label, std::string_view detail) {
    server_.metrics.rejected.with({label}).inc();
    server_.deps.server_metrics.ingest_rejected.with({label}).inc();
    spdlog::debug("event=mqtt_message_rejected client={} topic={} reason=\"{}\"", client_id_,
                  p.topic, detail);
    if (is_will || ack_type == kNoAck) return;
    if (p.qos == 2 && session_) {
      std::lock_guard lock(session_->mu);
      if (version_ == Version::kV5 && code >= 0x80)
        session_->awaiting_pubrel.erase(p.packet_id);  // an error PUBREC ends the exchange
      else
        session_->awaiting_pubrel[p.packet_id] = true;
    }
    send(encode_ack(version_, ack_type, p.packet_id, version_ == Version::kV5 ? code : 0));
  };

  auto match = server_.options.topics.match(p.topic);
  if (!match) {
    refuse(reason::kTopicNameInvalid, "unknown_topic", "no topic template matches");
    return true;
  }
  if (!any_device_ && match->device_id != device_id_) {
    if (version_ == Version::kV311 && !is_will) return false;
    refuse(reason::kNotAuthorized, "not_authorized", "another device's topic");
    return true;
  }
  const int64_t now = server_.deps.clock.now_ms();
  auto self = shared_from_this();
  auto& ctx = server_;
  if (match->kind == MessageKind::kHeartbeat) {
    auto report = decode_heartbeat(p.payload, match->device_id, now);
    if (!report.ok()) {
      refuse(reason::kPayloadFormatInvalid, "invalid_heartbeat", report.status().message());
      return true;
    }
    const uint64_t seq = is_will ? 0 : expect_ack(ack_type, p.packet_id);
    server_.deps.ingestor.submit_heartbeat(
        std::move(*report), [self, seq, is_will, &ctx](HeartbeatAck ack) {
          if (ack.status.ok()) {
            ctx.deps.server_metrics.heartbeats.get().inc();
            if (ctx.deps.ingest_rate) ctx.deps.ingest_rate->record(ctx.deps.clock.now_ms());
          }
          if (is_will) return;
          const bool durable = ack.status.ok();
          net::post(self->transport_.get_executor(),
                    [self, seq, durable] { self->complete(seq, durable); });
        });
    return true;
  }
  TelemetryJsonOptions opt;
  opt.path_device_id = match->device_id;
  auto batch = std::make_shared<ReadingBatch>();
  std::vector<ItemError> errors;
  size_t items = 0;
  Status st = decode_telemetry_json(p.payload, opt, now, *batch, errors, &items);
  if (!st.ok() || batch->empty()) {
    refuse(reason::kPayloadFormatInvalid, "invalid_telemetry",
           !st.ok()         ? st.message()
           : errors.empty() ? "no readings"
                            : errors.front().message);
    return true;
  }
  if (!errors.empty())
    server_.deps.server_metrics.ingest_rejected.with({"invalid_reading"})
        .inc(static_cast<double>(errors.size()));
  const size_t points = batch->points().size();
  const uint64_t seq = is_will ? 0 : expect_ack(ack_type, p.packet_id);
  server_.deps.ingestor.submit_telemetry(
      std::move(batch), now, [self, seq, points, is_will, &ctx](TelemetryAck ack) {
        if (ack.status.ok()) {
          ctx.deps.server_metrics.points_ingested.with({"mqtt"}).inc(static_cast<double>(points));
          if (ctx.deps.ingest_rate) ctx.deps.ingest_rate->record(ctx.deps.clock.now_ms(), points);
        } else {
          ctx.deps.server_metrics.ingest_rejected.with({"overloaded_or_storage"})
              .inc(static_cast<double>(points));
        }
        if (is_will) return;
        const bool durable = ack.status.ok();
        net::post(self->transport_.get_executor(),
                  [self, seq, durable] { self->complete(seq, durable); });
      });
  return true;
}

void Connection::publish_will() {
  if (!will_ || !connected_) return;
  Publish p;
  p.topic = will_->topic;
  p.payload = will_->payload;
  p.qos = will_->qos;
  will_.reset();
  spdlog::debug("event=mqtt_will client={} topic={}", client_id_, p.topic);
  ingest(p, true);
}

}  // namespace fp::mqtt
