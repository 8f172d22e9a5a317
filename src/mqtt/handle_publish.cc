// PUBLISH (QoS 0, 1, 2), PUBREL, and the will: decode the payload with the ingest decoders,
// submit it to the Ingestor, and acknowledge once it is durable (Connection::complete).

#include <spdlog/spdlog.h>

#include "mqtt/connection.h"
#include "mqtt/message_ingest.h"
#include "mqtt/packet_encoder.h"
#include "mqtt/publish_batch.h"

namespace fp::mqtt {
namespace {
// The telemetry of the read being parsed on this thread (Connection::parse submits it).
PublishBatch& read_batch() {
  thread_local PublishBatch batch;
  return batch;
}
}  // namespace

IngestSinks Connection::sinks() {
  return {server_.deps.writes,   server_.deps.ingestor,    server_.deps.server_metrics,
          server_.deps.clock,    server_.deps.ingest_rate, server_.deps.activity,
          &server_.deps.catalog, &server_.points_mqtt};
}

void Connection::submit_read_batch() {
  PublishBatch& batch = read_batch();
  if (batch.empty()) return;
  server_.metrics.ingest_batches.inc();
  batch.submit(sinks(), [self = shared_from_this()](std::vector<uint64_t> seqs, bool durable) {
    net::post(self->transport_.get_executor(),
              [self, seqs = std::move(seqs), durable] { self->complete_all(seqs, durable); });
  });
}

void Connection::handle_publish(uint8_t flags, std::span<const uint8_t> body) {
  // Reused by every PUBLISH of this thread: its topic and payload keep their capacity (a
  // connection handles one packet at a time, and never one inside another on its thread).
  thread_local Publish p;
  p.packet_id = 0;
  p.properties = {};
  if (DecodeResult d = decode_publish(version_, flags, body, p); !d.ok())
    return protocol_failure(d);
  server_.messages.fetch_add(1);
  server_.metrics.messages_by_qos[p.qos]->inc();  // decode_publish refused QoS 3
  if (read_key_only_) return close(reason::kNotAuthorized, "a read key may not publish");
  if (!credential_still_valid()) return;  // revoked: nothing more is stored for it
  if (p.qos == 2) {
    // A resent QoS 2 message is stored once: answer the PUBREC again (or later, if pending).
    ensure_session();
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
  const PacketType ack_type = is_will      ? kNoAck
                              : p.qos == 1 ? PacketType::kPuback
                              : p.qos == 2 ? PacketType::kPubrec
                                           : kNoAck;
  // A message that cannot be stored is answered in its turn: v5 says why, 3.1.1 acknowledges
  // (it cannot refuse a single message) and the rejection is counted.
  auto refuse = [&](uint8_t code, const char* label, std::string_view detail) {
    server_.metrics.rejected.with({label}).inc();
    server_.deps.server_metrics.ingest_rejected.with({label}).inc();
    spdlog::debug("event=mqtt_message_rejected client={} topic={} reason=\"{}\"", client_id_,
                  p.topic, detail);
    complete(expect_ack(ack_type, p.packet_id), true, version_ == Version::kV5 ? code : 0);
  };

  auto match = server_.options.topics.match(p.topic);
  if (!match) {
    refuse(reason::kTopicNameInvalid, "unknown_topic", "no topic template matches");
    return true;
  }
  if (!any_device_ && match->device_id != device_id_) {
    if (version_ == Version::kV311 && !is_will) {
      server_.metrics.rejected.with({"not_authorized"}).inc();
      server_.deps.server_metrics.ingest_rejected.with({"not_authorized"}).inc();
      return false;  // the caller closes the connection: 3.1.1 cannot refuse one message
    }
    refuse(reason::kNotAuthorized, "not_authorized", "another device's topic");
    return true;
  }
  // The disk is behind: not stored, and said so before the client times out. v5 is told 0x97;
  // 3.1.1 cannot refuse one message, so QoS 1/2 closes unacknowledged (the client sends it
  // again after reconnecting) and QoS 0 is dropped.
  if (std::string why = disk_behind("publish"); !why.empty()) {
    if (version_ == Version::kV311 && ack_type != kNoAck) {
      server_.metrics.rejected.with({"disk_overloaded"}).inc();
      close(reason::kServerBusy, "the disk is behind: " + why);
      return true;
    }
    refuse(reason::kQuotaExceeded, "disk_overloaded", why);
    return true;
  }
  const uint64_t seq = expect_ack(ack_type, p.packet_id);
  Refusal r;
  const bool batched = match->kind == MessageKind::kTelemetry && !is_will && processing_;
  if (batched) {
    // Joins the read's batch, submitted once the read is parsed.
    r = read_batch().add(sinks(), *match, p.payload, seq);
  } else {
    submit_read_batch();  // what came before is submitted first
    auto self = shared_from_this();
    r = submit_message(sinks(), *match, p.payload, [self, seq](bool durable) {
      net::post(self->transport_.get_executor(),
                [self, seq, durable] { self->complete(seq, durable, reason::kSuccess); });
    });
  }
  if (r.submitted() && match->kind == MessageKind::kTelemetry && !batched)
    server_.metrics.ingest_batches.inc();
  if (!r.submitted()) {
    server_.metrics.rejected.with({r.label}).inc();
    server_.deps.server_metrics.ingest_rejected.with({r.label}).inc();
    complete(seq, true, version_ == Version::kV5 ? r.reason : 0);
  }
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
