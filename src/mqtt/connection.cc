#include "mqtt/connection.h"

#include <spdlog/spdlog.h>

#include "mqtt/packet_encoder.h"
#include "storage/catalog/write_queue.h"

namespace fp::mqtt {
namespace {
// Reads start small (an idle connection holds little) and double while they come back full.
constexpr size_t kMinReadChunk = 1024;
constexpr size_t kMaxReadChunk = 64 * 1024;

std::string reason_label(uint8_t r) {
  switch (r) {
    case reason::kSuccess:
      return "normal";
    case reason::kMalformedPacket:
      return "malformed_packet";
    case reason::kProtocolError:
      return "protocol_error";
    case reason::kPacketTooLarge:
      return "packet_too_large";
    case reason::kKeepAliveTimeout:
      return "keep_alive_timeout";
    case reason::kSessionTakenOver:
      return "session_taken_over";
    case reason::kNotAuthorized:
      return "not_authorized";
    case reason::kBadUserNameOrPassword:
      return "bad_credentials";
    case reason::kServerShuttingDown:
      return "server_shutting_down";
    case reason::kServerBusy:
      return "server_busy";
    case reason::kTopicAliasInvalid:
      return "topic_alias_invalid";
    case reason::kUnsupportedProtocolVersion:
      return "unsupported_protocol_version";
    default:
      return "other";
  }
}
}  // namespace

Connection::Connection(ServerState& server, Transport transport)
    : server_(server), transport_(std::move(transport)), timer_(transport_.get_executor()) {
  server_.open_sockets.fetch_add(1);
  server_.metrics.connections.add(1);
}

Connection::~Connection() {
  server_.open_sockets.fetch_sub(1);
  server_.metrics.connections.add(-1);
}

void Connection::start() {
  timer_.expires_after(server_.options.connect_timeout);
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec && !self->connected_) self->close(reason::kKeepAliveTimeout, "no CONNECT in time");
  });
  if (transport_.is_tls()) {
    transport_.async_handshake([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) {
        self->server_.metrics.closed.with({"tls_handshake_failed"}).inc();
        return self->close(reason::kUnspecifiedError, "TLS handshake failed: " + ec.message());
      }
      self->read_more();
    });
  } else {
    read_more();
  }
}

void Connection::close_async(uint8_t reason_code, std::string why) {
  net::post(transport_.get_executor(), [self = shared_from_this(), reason_code,
                                        why = std::move(why)] { self->close(reason_code, why); });
}

void Connection::close_if_async(Revocation kind, std::string id) {
  net::post(transport_.get_executor(), [self = shared_from_this(), kind, id = std::move(id)] {
    if (!self->connected_ || self->closing_ || self->closed_) return;
    const bool match = kind == Revocation::kToken    ? self->auth_token_id_ == id
                       : kind == Revocation::kApiKey ? self->auth_key_id_ == id
                                                     : self->device_id_ == id;
    if (!match) return;
    if (kind == Revocation::kDevice) {
      // The device is gone: its session is not kept, nor its connection state recreated.
      self->counted_device_ = false;
      if (self->session_) {
        std::lock_guard lock(self->session_->mu);
        self->session_->persistent = false;
      }
    }
    self->server_.metrics.revoked.inc();
    spdlog::info("event=mqtt_revoked client={} device={} reason={}", self->client_id_,
                 self->device_id_,
                 kind == Revocation::kToken    ? "token_revoked"
                 : kind == Revocation::kApiKey ? "api_key_changed"
                                               : "device_removed");
    self->close(reason::kNotAuthorized, "credential revoked");
  });
}

bool Connection::credential_still_valid() {
  bool valid = true;
  if (!auth_token_id_.empty()) {
    valid = server_.deps.device_tokens.is_active(auth_token_id_);
  } else if (!auth_key_id_.empty()) {
    auto role = server_.deps.api_keys.role_of(auth_key_id_);
    valid = role && role_allows(*role, ApiRole::kWrite);
  }
  if (!valid) {
    server_.metrics.revoked.inc();
    close(reason::kNotAuthorized, "credential revoked");
  }
  return valid;
}

void Connection::stop_reading_async() {
  net::post(transport_.get_executor(), [self = shared_from_this()] { self->read_stopped_ = true; });
}

bool Connection::at_limit() const {
  // Input is bounded by the packet size limit on its own (a packet must be read whole), so
  // the byte limit applies to answers the client is not reading.
  return acks_.size() >= server_.options.max_inflight ||
         out_bytes_ > server_.options.max_buffered_bytes;
}

void Connection::read_more() {
  if (reading_ || closing_ || closed_ || read_stopped_ || hold_input_) return;
  if (at_limit()) {
    if (!paused_) {
      paused_ = true;
      server_.metrics.paused.inc();
    }
    return;
  }
  paused_ = false;
  // Keep the unparsed tail at the front, and room for one chunk after it.
  if (in_start_ > 0) {
    std::copy(in_.begin() + static_cast<ptrdiff_t>(in_start_),
              in_.begin() + static_cast<ptrdiff_t>(in_end_), in_.begin());
    in_end_ -= in_start_;
    in_start_ = 0;
  }
  size_t want = read_chunk_;
  const size_t unparsed = in_end_ - in_start_;
  if (frame_want_ > unparsed) want = std::max(want, frame_want_ - unparsed);  // one big packet
  if (in_.size() < in_end_ + want) in_.resize(in_end_ + want);
  reading_ = true;
  last_read_request_ = want;
  transport_.async_read_some(net::buffer(in_.data() + in_end_, want),
                             [self = shared_from_this()](const boost::system::error_code& ec,
                                                         size_t n) { self->on_read(ec, n); });
}

void Connection::on_read(const boost::system::error_code& ec, size_t n) {
  reading_ = false;
  if (closed_) return;
  if (ec) {
    // EOF or reset without DISCONNECT: an abnormal end, so the will is published.
    return close(reason::kUnspecifiedError, ec == net::error::eof ? "peer closed" : ec.message());
  }
  in_end_ += n;
  if (n == last_read_request_ && read_chunk_ < kMaxReadChunk) read_chunk_ *= 2;
  account_buffered();
  process_buffer();
  // Give back a buffer that grew for one large packet (no read is pending here).
  if (in_start_ == in_end_ && in_.size() > kMaxReadChunk) {
    in_.clear();
    in_.shrink_to_fit();
    in_start_ = in_end_ = 0;
    read_chunk_ = kMinReadChunk;
  }
  read_more();
}

void Connection::process_buffer() {
  // Not re-entered from an answer completed while a packet is handled: the loop goes on.
  if (processing_) return;
  processing_ = true;
  struct Done {
    bool& flag;
    ~Done() { flag = false; }
  } done{processing_};
  while (!closing_ && !closed_ && !hold_input_ && !at_limit()) {
    FrameHeader h;
    const std::span<const uint8_t> avail(in_.data() + in_start_, in_end_ - in_start_);
    // Anything but CONNECT first is refused at its first byte, not after its length arrives.
    if (!connected_ && !avail.empty() && (avail[0] >> 4) != static_cast<int>(PacketType::kConnect))
      return protocol_failure({reason::kProtocolError, "the first packet must be CONNECT"});
    switch (read_frame_header(avail, server_.options.max_packet_bytes, h)) {
      case FrameStatus::kNeedMore:
        frame_want_ = h.header_bytes ? h.total() : 0;
        return;
      case FrameStatus::kMalformed:
        return protocol_failure({reason::kMalformedPacket, "bad fixed header"});
      case FrameStatus::kTooLarge:
        return protocol_failure(
            {reason::kPacketTooLarge, "packet of " + std::to_string(h.total()) + " bytes exceeds " +
                                          std::to_string(server_.options.max_packet_bytes)});
      case FrameStatus::kComplete:
        break;
    }
    const std::span<const uint8_t> body = avail.subspan(h.header_bytes, h.remaining);
    in_start_ += h.total();
    last_packet_at_ = std::chrono::steady_clock::now();
    handle_packet(h, body);
  }
  account_buffered();
}

void Connection::handle_packet(const FrameHeader& h, std::span<const uint8_t> body) {
  if (!connected_ && h.type != PacketType::kConnect)
    return protocol_failure({reason::kProtocolError, "the first packet must be CONNECT"});
  switch (h.type) {
    case PacketType::kConnect:
      if (connected_) return protocol_failure({reason::kProtocolError, "a second CONNECT"});
      return handle_connect(h.flags, body);
    case PacketType::kPublish:
      return handle_publish(h.flags, body);
    case PacketType::kPuback:
    case PacketType::kPubrec:
    case PacketType::kPubrel:
    case PacketType::kPubcomp: {
      Ack a;
      if (DecodeResult d = decode_ack(version_, h.type, h.flags, body, a); !d.ok())
        return protocol_failure(d);
      if (h.type == PacketType::kPubrel) return handle_pubrel(a);
      if (h.type == PacketType::kPuback) return handle_puback(a);
      // PUBREC / PUBCOMP answer QoS 2 messages, which this server never sends.
      return protocol_failure({reason::kProtocolError, "PUBREC/PUBCOMP for an unknown id"});
    }
    case PacketType::kSubscribe:
      return handle_subscribe(h.flags, body);
    case PacketType::kUnsubscribe:
      return handle_unsubscribe(h.flags, body);
    case PacketType::kPingreq:
      if (DecodeResult d = decode_pingreq(h.flags, body); !d.ok()) return protocol_failure(d);
      return send(encode_pingresp());
    case PacketType::kDisconnect: {
      Disconnect d;
      if (DecodeResult r = decode_disconnect(version_, h.flags, body, d); !r.ok())
        return protocol_failure(r);
      if (d.reason_code != reason::kDisconnectWithWill) will_.reset();  // a normal end
      if (session_ && d.properties.session_expiry_interval) {
        std::lock_guard lock(session_->mu);
        const uint32_t interval = *d.properties.session_expiry_interval;
        session_->persistent = interval > 0;
        session_->expiry_ms = interval == 0xFFFFFFFF ? INT64_MAX : int64_t{interval} * 1000;
      }
      // Closed once this connection's catalog writes (a command's PUBACK deleting it) are
      // committed, so a client that saw the close finds them done after a crash; what is
      // queued is written first.
      hold_input_ = true;
      const uint64_t seq = expect_ack(kNoAck, 0);
      write_later(
          server_.deps.catalog, [](Catalog&) { return Status::Ok(); },
          on_strand([this, seq](const Status&) {
            answer(seq, {}, [this] { close(reason::kSuccess, "DISCONNECT"); });
          }));
      return;
    }
    default:
      return protocol_failure(
          {reason::kProtocolError,
           "packet type " + std::to_string(static_cast<int>(h.type)) + " is not for a server"});
  }
}

void Connection::protocol_failure(const DecodeResult& d) {
  server_.metrics.rejected.with({reason_label(d.reason)}).inc();
  spdlog::info("event=mqtt_protocol_error client={} reason=0x{:02x} detail=\"{}\"", client_id_,
               d.reason, d.message);
  close(d.reason, d.message);
}

void Connection::send(std::string packet) {
  if (closed_) return;
  if (client_max_packet_ && packet.size() > client_max_packet_) return;  // MQTT-3.1.2-24
  out_bytes_ += packet.size();
  out_queued_ += packet;
  account_buffered();
  if (!writing_) write_next();
}

void Connection::write_next() {
  if (out_queued_.empty() || closed_) {
    writing_ = false;
    if (closing_ && !closed_) finish_close();
    return;
  }
  // Everything queued goes in one write (a burst of acks after a commit is one syscall).
  writing_ = true;
  out_writing_.swap(out_queued_);
  out_queued_.clear();
  transport_.async_write(net::buffer(out_writing_),
                         [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                           if (self->closed_) return;
                           self->out_bytes_ -= self->out_writing_.size();
                           self->out_writing_.clear();
                           self->account_buffered();
                           if (ec) {
                             self->close(reason::kUnspecifiedError,
                                         "write failed: " + ec.message());
                             return self->finish_close();
                           }
                           self->write_next();
                           self->drain_consumer();
                           if (!self->closing_) {
                             self->process_buffer();
                             self->read_more();
                           }
                         });
}

void Connection::close(uint8_t reason_code, std::string_view why) {
  if (closed_ || closing_) return;
  server_.metrics.closed.with({reason_label(reason_code)}).inc();
  spdlog::debug("event=mqtt_close client={} reason=0x{:02x} why=\"{}\"", client_id_, reason_code,
                why);
  closing_ = true;
  timer_.cancel();
  if (reason_code != reason::kSuccess) {
    if (connected_ && version_ == Version::kV5 && reason_code >= 0x80)
      send(encode_disconnect(reason_code, why));
    publish_will();  // abnormal end
  }
  if (!writing_) finish_close();
}

void Connection::finish_close() {
  if (closed_) return;
  closed_ = true;
  timer_.cancel();
  transport_.close();
  out_queued_.clear();
  out_writing_.clear();
  out_bytes_ = 0;
  in_start_ = in_end_ = 0;
  account_buffered();
  if (!acks_.empty()) server_.inflight.fetch_sub(static_cast<int64_t>(acks_.size()));
  server_.metrics.inflight.add(-static_cast<double>(acks_.size()));
  acks_.clear();
  drop_consumer();
  if (connected_) {
    server_.connected_clients.fetch_sub(1);
    if (counted_device_)
      server_.deps.connections.on_disconnect(device_id_, server_.deps.clock.now_ms());
    if (session_) {
      std::map<std::string, uint8_t> subs;
      {
        std::lock_guard lock(session_->mu);
        subs = session_->subscriptions;
        const int64_t now = server_.deps.clock.now_ms();
        session_->expires_at_ms =
            session_->expiry_ms > INT64_MAX - now ? INT64_MAX : now + session_->expiry_ms;
      }
      for (const auto& [filter, qos] : subs) server_.unsubscribe(filter, this);
      bool owner = false, keep = false;
      {
        std::lock_guard lock(server_.sessions_mu);
        auto it = server_.sessions.find(client_id_);
        if (it != server_.sessions.end() && it->second.owner.lock().get() == this) {
          owner = true;
          {
            std::lock_guard slock(session_->mu);
            keep = session_->persistent;
          }
          if (keep)
            it->second.owner.reset();
          else
            server_.sessions.erase(it);
        }
      }
      // The stored copy follows: its expiry counts from now, or it is gone (v5 DISCONNECT
      // with expiry 0, or a removed device). A taken-over session belongs to its new owner.
      if (owner && keep)
        server_.store_session(client_id_, *session_);
      else if (owner)
        server_.unstore_session(client_id_, *session_);
    }
  }
  auto self = shared_from_this();
  std::lock_guard lock(server_.conns_mu);
  server_.connections.erase(self);
}

void Connection::arm_keepalive() {
  if (keep_alive_s_ == 0 || closing_) return;
  // The client may be late by half its interval (MQTT 3.1.2.10). One timer per connection,
  // re-armed from the time of the last packet when it fires, not reset on every packet.
  const auto limit = std::chrono::milliseconds(keep_alive_s_ * 1500);
  timer_.expires_at(last_packet_at_ + limit);
  timer_.async_wait([self = shared_from_this(), limit](const boost::system::error_code& ec) {
    if (ec || self->closing_) return;
    if (std::chrono::steady_clock::now() - self->last_packet_at_ >= limit)
      return self->close(reason::kKeepAliveTimeout, "keep-alive expired");
    self->arm_keepalive();
  });
}

void Connection::account_buffered() {
  const auto now = static_cast<int64_t>(out_bytes_ + (in_end_ - in_start_));
  if (now != reported_buffered_) {
    server_.metrics.buffered.add(static_cast<double>(now - reported_buffered_));
    reported_buffered_ = now;
  }
}

uint64_t Connection::expect_ack(PacketType type, uint16_t packet_id) {
  acks_.push_back({type, packet_id});
  server_.inflight.fetch_add(1);
  server_.metrics.inflight.add(1);
  return acks_base_ + acks_.size() - 1;
}

void Connection::complete(uint64_t seq, bool durable, uint8_t reason_code) {
  if (closed_ || seq < acks_base_ || seq - acks_base_ >= acks_.size()) return;
  PendingAck& a = acks_[seq - acks_base_];
  a.done = true;
  a.failed = !durable;
  a.reason_code = reason_code;
  flush_acks();
}

void Connection::flush_acks() {
  bool popped = false;
  while (!acks_.empty() && acks_.front().done) {
    PendingAck a = std::move(acks_.front());
    acks_.pop_front();
    ++acks_base_;
    popped = true;
    // Accounted before the ack leaves: a client that saw its ack sees the gauge without it.
    server_.inflight.fetch_sub(1);
    server_.metrics.inflight.add(-1);
    if (a.failed)  // not durable: no ack, so the client sends it again after reconnecting
      return close(reason::kServerBusy, "storage refused the message");
    if (a.type == PacketType::kPubrec && session_) {
      std::lock_guard lock(session_->mu);
      if (a.reason_code >= 0x80)
        session_->awaiting_pubrel.erase(a.packet_id);  // an error PUBREC ends the exchange
      else
        session_->awaiting_pubrel[a.packet_id] = true;
    }
    if (!a.packet.empty())
      send(std::move(a.packet));
    else if (a.type != kNoAck)
      send(encode_ack(version_, a.type, a.packet_id, a.reason_code));
    if (a.then) a.then();
  }
  if (popped) {
    process_buffer();
    read_more();
  }
}

void Connection::answer(uint64_t seq, std::string packet, std::function<void()> then) {
  if (closed_ || seq < acks_base_ || seq - acks_base_ >= acks_.size()) return;
  PendingAck& a = acks_[seq - acks_base_];
  a.done = true;
  a.packet = std::move(packet);
  a.then = std::move(then);
  flush_acks();
}

CatalogWriteQueue::Done Connection::on_strand(std::function<void(Status)> then) {
  return [gate = server_.gate, weak = weak_from_this(), then = std::move(then)](Status s) {
    std::lock_guard lock(gate->mu);  // the server's I/O cannot stop while this posts
    if (!gate->open) return;
    std::shared_ptr<Connection> self = weak.lock();
    if (!self) return;  // closed and gone: nobody to answer
    auto executor = self->transport_.get_executor();
    net::post(executor,
              [self = std::move(self), then, s = std::move(s)]() mutable { then(std::move(s)); });
  };
}

void Connection::write_and_forget(CatalogWriteQueue::Op op, std::string what) {
  write_later(server_.deps.catalog, std::move(op), [what = std::move(what)](const Status& s) {
    if (!s.ok())
      spdlog::error("event=mqtt_catalog_write_failed what=\"{}\" reason=\"{}\"", what, s.message());
  });
}

std::string Connection::disk_behind(const char* packet) {
  if (!server_.options.disk_behind) return {};
  std::string why = server_.options.disk_behind();
  if (!why.empty()) {
    server_.metrics.shed.with({packet}).inc();
    spdlog::debug("event=mqtt_shed client={} packet={} reason=\"{}\"", client_id_, packet, why);
  }
  return why;
}

}  // namespace fp::mqtt
