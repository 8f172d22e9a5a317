// SUBSCRIBE / UNSUBSCRIBE to a device's own devices/{id}/config and devices/{id}/commands,
// delivery of config and commands, and PUBACK for what was delivered with QoS 1.

#include <spdlog/spdlog.h>

#include "model/device.h"
#include "mqtt/connection.h"
#include "mqtt/packet_encoder.h"
#include "storage/catalog/write_queue.h"

namespace fp::mqtt {
namespace {

// "devices/{id}/config" or "devices/{id}/commands" -> id; empty otherwise.
std::string device_of_push_topic(std::string_view filter) {
  constexpr std::string_view kPrefix = "devices/";
  if (filter.substr(0, kPrefix.size()) != kPrefix) return {};
  std::string_view rest = filter.substr(kPrefix.size());
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return {};
  std::string_view id = rest.substr(0, slash), leaf = rest.substr(slash + 1);
  if (leaf != "config" && leaf != "commands") return {};
  if (!validate_device_id(id).empty()) return {};
  return std::string(id);
}

}  // namespace

uint8_t Connection::authorize_filter(const Subscription& s, std::string& device) {
  const bool v5 = version_ == Version::kV5;
  if (s.filter.rfind("$share/", 0) == 0)
    return v5 ? reason::kSharedSubscriptionsNotSupported : reason::kUnspecifiedError;
  // Wildcards and consumer topics (devices/{id}/telemetry, fleet/status, ...) are for consumers.
  if (s.filter.find_first_of("+#") != std::string::npos ||
      ConsumerFeed::is_consumer_topic(s.filter))
    return authorize_consumer_filter(s);
  device = device_of_push_topic(s.filter);
  if (device.empty()) return v5 ? reason::kTopicFilterInvalid : reason::kUnspecifiedError;
  if (!any_device_ && device != device_id_)
    return v5 ? reason::kNotAuthorized : reason::kUnspecifiedError;
  return std::min<uint8_t>(s.max_qos, 1);  // pushes are sent with QoS 0 or 1
}

void Connection::handle_subscribe(uint8_t flags, std::span<const uint8_t> body) {
  Subscribe sub;
  if (DecodeResult d = decode_subscribe(version_, flags, body, sub); !d.ok())
    return protocol_failure(d);
  ensure_session();
  bool persistent;
  {
    std::lock_guard lock(session_->mu);
    persistent = session_->persistent;
  }
  const uint64_t seq = expect_ack(kNoAck, sub.packet_id);
  // A persistent session's subscriptions are stored before the SUBACK: refused at once while
  // the disk is behind (nothing of them is kept).
  if (persistent && !disk_behind("subscribe").empty()) {
    const uint8_t refused =
        version_ == Version::kV5 ? reason::kQuotaExceeded : reason::kUnspecifiedError;
    return answer(seq, encode_suback(version_, sub.packet_id,
                                     std::vector<uint8_t>(sub.subscriptions.size(), refused)));
  }
  std::vector<uint8_t> codes;
  std::vector<std::pair<std::string, std::string>> configs_to_send;  // topic, device
  std::vector<std::string> commands_to_send;                         // topics
  bool consumer_changed = false;
  for (const Subscription& s : sub.subscriptions) {
    std::string device;
    const uint8_t code = authorize_filter(s, device);
    codes.push_back(code);
    if (code >= 0x80) continue;
    {
      std::lock_guard lock(session_->mu);
      session_->subscriptions[s.filter] = code;
    }
    if (device.empty()) {  // a consumer filter: served by the feed, not the push table
      consumer_changed = true;
      continue;
    }
    server_.subscribe(s.filter, shared_from_this());
    if (s.filter.size() > 7 && s.filter.compare(s.filter.size() - 7, 7, "/config") == 0)
      configs_to_send.emplace_back(s.filter, device);
    else
      commands_to_send.push_back(s.filter);
  }
  const bool changed = !configs_to_send.empty() || !commands_to_send.empty() || consumer_changed;
  auto suback = [this, seq, packet = encode_suback(version_, sub.packet_id, codes),
                 configs_to_send = std::move(configs_to_send),
                 commands_to_send = std::move(commands_to_send), consumer_changed](Status stored) {
    // Not durable: no SUBACK; the client subscribes again after reconnecting.
    if (!stored.ok()) return complete(seq, false, 0);
    answer(seq, packet, [this, configs_to_send, commands_to_send, consumer_changed] {
      // Messages durable from now on are queued for it.
      if (consumer_changed) update_consumer_filters();
      // The current config comes at once, flagged retained, like a retained message would.
      for (const auto& [topic, device] : configs_to_send) {
        auto d = server_.deps.catalog.get_device(device);
        if (d.ok()) deliver(topic, d->config_json.empty() ? "{}" : d->config_json, true);
        // A stored config push is superseded by the current config just sent.
        auto pending = server_.deps.catalog.pending_pushes(topic, server_.deps.clock.now_ms(), 16);
        if (pending.ok())
          for (const auto& p : *pending)
            write_and_forget([id = p.id](Catalog& c) { return c.delete_push(id); },
                             "delete superseded config push");
      }
      // Commands queued while the device was away follow, oldest first.
      for (const auto& topic : commands_to_send) deliver_pending(topic);
    });
  };
  // A persistent session's subscriptions are durable before the SUBACK says so: it is sent
  // from the write's completion, never waited for on this thread.
  if (!changed || !server_.store_session(client_id_, *session_, on_strand(suback)))
    suback(Status::Ok());
}

void Connection::resume_deliveries() {
  std::vector<std::string> topics;
  {
    std::lock_guard lock(session_->mu);
    for (const auto& [filter, qos] : session_->subscriptions)
      if (filter.find_first_of("+#") == std::string::npos &&
          !ConsumerFeed::is_consumer_topic(filter))
        topics.push_back(filter);
  }
  update_consumer_filters();
  // A config changed while it was away, or never acknowledged, is pending like a command.
  for (const auto& topic : topics) deliver_pending(topic);
}

void Connection::deliver_pending(const std::string& topic) {
  constexpr int kMaxPerLoad = 1000;  // the most a connection holds unacknowledged
  const int64_t now = server_.deps.clock.now_ms();
  // What expired while nobody came for it is dropped (and counted) in the background; the
  // read below skips it already.
  auto gone = std::make_shared<int64_t>(0);  // set on the writer thread, read after the post
  write_later(
      server_.deps.catalog,
      [gone, now](Catalog& c) {
        auto n = c.delete_expired_pushes(now);
        if (n.ok()) *gone = *n;
        return n.status();
      },
      on_strand([this, gone](const Status&) {
        if (*gone > 0) server_.metrics.commands_expired.inc(static_cast<double>(*gone));
      }));
  auto pending = server_.deps.catalog.pending_pushes(topic, now, kMaxPerLoad);
  if (!pending.ok()) {
    spdlog::error("event=mqtt_pending_load_failed client={} topic={} reason=\"{}\"", client_id_,
                  topic, pending.status().message());
    return;
  }
  for (const auto& p : *pending) deliver_push(p);
}

void Connection::handle_unsubscribe(uint8_t flags, std::span<const uint8_t> body) {
  Unsubscribe u;
  if (DecodeResult d = decode_unsubscribe(version_, flags, body, u); !d.ok())
    return protocol_failure(d);
  ensure_session();
  std::vector<uint8_t> codes;
  for (const std::string& f : u.filters) {
    bool existed;
    {
      std::lock_guard lock(session_->mu);
      existed = session_->subscriptions.erase(f) > 0;
    }
    if (existed) server_.unsubscribe(f, this);
    codes.push_back(existed ? reason::kSuccess : 0x11);  // 0x11: no subscription existed
  }
  if (consumer_) update_consumer_filters();
  const uint64_t seq = expect_ack(kNoAck, u.packet_id);
  auto unsuback = [this, seq, packet = encode_unsuback(version_, u.packet_id, codes)](Status s) {
    if (!s.ok()) return complete(seq, false, 0);
    answer(seq, packet);
  };
  if (!server_.store_session(client_id_, *session_, on_strand(unsuback))) unsuback(Status::Ok());
}

void Connection::handle_puback(const Ack& a) {
  outbound_unacked_.erase(a.packet_id);
  drain_consumer();  // its QoS 1 window has room again
  if (!pushes_) return;
  auto it = pushes_->awaiting_puback.find(a.packet_id);
  if (it == pushes_->awaiting_puback.end()) return;
  // Acknowledged: the command is done (for every subscriber of the device). Not waited for: a
  // crash before the commit sends it again, flagged DUP.
  write_and_forget([id = it->second](Catalog& c) { return c.delete_push(id); },
                   "delete acknowledged push " + std::to_string(it->second));
  pushes_->awaiting_puback.erase(it);
}

void Connection::deliver_push_async(QueuedPush p) {
  net::post(transport_.get_executor(),
            [self = shared_from_this(), p = std::move(p)] { self->deliver_push(p); });
}

void Connection::deliver_push(const QueuedPush& push) {
  if (closing_ || closed_ || !session_ || (pushes_ && pushes_->sent.count(push.id))) return;
  uint8_t qos;
  {
    std::lock_guard lock(session_->mu);
    auto it = session_->subscriptions.find(push.topic);
    if (it == session_->subscriptions.end()) return;
    qos = it->second;
  }
  Publish p;
  p.topic = push.topic;
  p.payload = push.payload;
  p.qos = qos;
  p.dup = qos > 0 && push.attempts > 0;  // sent before (to this client or another connection)
  if (qos > 0) {
    if (outbound_unacked_.size() >= 1000) return;  // stays queued for the next connection
    do {
      p.packet_id = next_packet_id_++;
      if (next_packet_id_ == 0) next_packet_id_ = 1;
    } while (outbound_unacked_.count(p.packet_id));
    outbound_unacked_.insert(p.packet_id);
    if (!pushes_) pushes_ = std::make_unique<Pushes>();
    pushes_->awaiting_puback[p.packet_id] = push.id;
  }
  if (!pushes_) pushes_ = std::make_unique<Pushes>();
  pushes_->sent.insert(push.id);
  server_.metrics.delivered.inc();
  // QoS 1: counted as sent before it leaves, so a resend after a crash carries DUP. QoS 0: at
  // most once, so it is deleted before it leaves. It leaves from the write's completion.
  const int64_t id = push.id;
  write_later(
      server_.deps.catalog,
      [id, qos](Catalog& c) { return qos > 0 ? c.mark_push_sent(id) : c.delete_push(id); },
      on_strand([this, id, packet = encode_publish(version_, p)](const Status& s) {
        if (!s.ok())
          spdlog::error("event=mqtt_push_update_failed id={} reason=\"{}\"", id, s.message());
        if (!closing_) send(packet);
      }));
}

void Connection::deliver_async(std::string topic, std::string payload, bool retain) {
  net::post(transport_.get_executor(),
            [self = shared_from_this(), topic = std::move(topic), payload = std::move(payload),
             retain] { self->deliver(topic, payload, retain); });
}

void Connection::deliver(const std::string& topic, const std::string& payload, bool retain) {
  if (closing_ || closed_ || !session_) return;
  uint8_t qos;
  {
    std::lock_guard lock(session_->mu);
    auto it = session_->subscriptions.find(topic);
    if (it == session_->subscriptions.end()) return;
    qos = it->second;
  }
  Publish p;
  p.topic = topic;
  p.payload = payload;
  p.retain = retain;
  p.qos = qos;
  if (qos > 0) {
    if (outbound_unacked_.size() >= 1000) return;  // a client that never acks gets no more
    do {
      p.packet_id = next_packet_id_++;
      if (next_packet_id_ == 0) next_packet_id_ = 1;
    } while (outbound_unacked_.count(p.packet_id));
    outbound_unacked_.insert(p.packet_id);
  }
  server_.metrics.delivered.inc();
  send(encode_publish(version_, p));
}

}  // namespace fp::mqtt
