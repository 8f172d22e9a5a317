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
    : server_(server), transport_(std::move(transport)) {
  server_.open_sockets.fetch_add(1);
  server_.metrics.connections.add(1);
}

Connection::~Connection() {
  server_.open_sockets.fetch_sub(1);
  server_.metrics.connections.add(-1);
}

void Connection::start() {
  idle_limit_ms_.store(
      std::chrono::duration_cast<std::chrono::milliseconds>(server_.options.connect_timeout)
          .count(),
      std::memory_order_relaxed);
  if (transport_.is_tls()) {
    transport_.async_handshake([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) {
        self->server_.metrics.closed.with({"tls_handshake_failed"}).inc();
        return self->close(reason::kUnspecifiedError, "TLS handshake failed: " + ec.message());
      }
      self->read_more();
    });
  } else {
    boost::system::error_code ec;
    transport_.lowest().non_blocking(true, ec);  // on_readable reads what is there, no more
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
    const bool match = kind == Revocation::kToken    ? self->credential_.token_id() == id
                       : kind == Revocation::kApiKey ? self->credential_.key_id() == id
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
  if (!credential_.token_id().empty()) {
    valid = server_.deps.device_tokens.is_active(credential_.token_id());
  } else if (!credential_.key_id().empty()) {
    auto role = server_.deps.api_keys.role_of(credential_.key_id());
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
  return pending_acks() >= server_.options.max_inflight ||
         out_bytes_ > server_.options.max_buffered_bytes;
}

void Connection::read_more() {
  // While packets are being handled, the caller of parse() asks again once it is done (a TLS
  // read would move the bytes being parsed).
  if (reading_ || processing_ || closing_ || closed_ || read_stopped_ || hold_input_) return;
  if (at_limit()) {
    if (!paused_) {
      paused_ = true;
      server_.metrics.paused.inc();
    }
    return;
  }
  paused_ = false;
  reading_ = true;
  if (!transport_.is_tls()) {
    // The wait's operation is allocated at its own size (std::allocator), not from the
    // thread's recycled blocks: the accept that started this connection just freed one of
    // ~180 bytes, and an idle connection would keep that for as long as it waits.
    transport_.lowest().async_wait(
        tcp::socket::wait_read,
        net::bind_allocator(std::allocator<void>(),
                            [self = shared_from_this()](const boost::system::error_code& ec) {
                              self->on_readable(ec);
                            }));
    return;
  }
  // Keep the unparsed tail at the front, and room for one chunk after it.
  tr().keep_tail_at_front();
  size_t want = tr().read_chunk;
  const size_t unparsed = tr().in_end - tr().in_start;
  if (tr().frame_want > unparsed)
    want = std::max(want, tr().frame_want - unparsed);  // one big packet
  if (tr().in.size() < tr().in_end + want) tr().in.resize(tr().in_end + want);
  tr().last_read_request = static_cast<uint32_t>(want);
  transport_.async_read_some(net::buffer(tr().in.data() + tr().in_end, want),
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
  tr().in_end += static_cast<uint32_t>(n);
  if (n == tr().last_read_request && tr().read_chunk < kMaxReadChunk) tr().read_chunk *= 2;
  account_buffered();
  process_buffer();
  // Give back a buffer that grew for one large packet (no read is pending here).
  if (tr().in_start == tr().in_end && tr().in.size() > kMaxReadChunk) {
    tr().in.clear();
    tr().in.shrink_to_fit();
    tr().in_start = tr().in_end = 0;
    tr().read_chunk = kMinReadChunk;
  }
  read_more();
}

void Connection::on_readable(const boost::system::error_code& ec) {
  reading_ = false;
  if (closed_) return;
  if (ec) return close(reason::kUnspecifiedError, ec.message());
  // One scratch buffer per I/O thread: parsing never waits, so no other connection's read
  // runs on this thread before the packets in it are handled or copied out.
  thread_local std::vector<uint8_t> scratch(kMaxReadChunk);
  const bool tail = tr().in_end > tr().in_start;
  size_t n = 0;
  boost::system::error_code rec;
  if (tail) {  // the rest of a packet: read after what is already there
    tr().keep_tail_at_front();
    const size_t want = std::max(
        kMinReadChunk, size_t{tr().frame_want > tr().in_end ? tr().frame_want - tr().in_end : 0u});
    if (tr().in.size() < tr().in_end + want) tr().in.resize(tr().in_end + want);
    n = transport_.lowest().read_some(
        net::buffer(tr().in.data() + tr().in_end, tr().in.size() - tr().in_end), rec);
  } else {
    n = transport_.lowest().read_some(net::buffer(scratch), rec);
  }
  if (rec == net::error::would_block || rec == net::error::try_again) return read_more();
  if (rec) {
    // EOF or reset without DISCONNECT: an abnormal end, so the will is published.
    return close(reason::kUnspecifiedError, rec == net::error::eof ? "peer closed" : rec.message());
  }
  if (tail) {
    tr().in_end += static_cast<uint32_t>(n);
    process_buffer();
  } else {
    const size_t used = parse({scratch.data(), n});
    if (!closed_ && used < n) {  // keep what was not handled
      tr().in.assign(scratch.begin() + static_cast<ptrdiff_t>(used),
                     scratch.begin() + static_cast<ptrdiff_t>(n));
      tr().in_start = 0;
      tr().in_end = static_cast<uint32_t>(n - used);
    }
  }
  if (traffic_ && traffic_->in_start == traffic_->in_end) {  // nothing unparsed: no buffer
    traffic_->in = {};
    traffic_->in_start = traffic_->in_end = 0;
  }
  account_buffered();
  read_more();
  release_idle_traffic();
}

void Connection::release_idle_traffic() {
  if (!traffic_ || transport_.is_tls() || writing_ || processing_) return;
  const Traffic& t = *traffic_;
  if (t.in_end == t.in_start && t.out_writing.empty() && t.acks.size() == t.acks_head)
    traffic_.reset();
}

void Connection::process_buffer() {
  // Not re-entered from an answer completed while a packet is handled: the loop goes on.
  if (processing_) return;
  const size_t used = parse({tr().in.data() + tr().in_start, tr().in_end - tr().in_start});
  if (!closed_) tr().in_start += static_cast<uint32_t>(used);
  account_buffered();
}

size_t Connection::parse(std::span<const uint8_t> input) {
  if (processing_) return 0;
  const size_t used = parse_packets(input);
  // The telemetry of this read goes as one batch: one commit wait, its acks in one write.
  submit_read_batch();
  return used;
}

size_t Connection::parse_packets(std::span<const uint8_t> input) {
  processing_ = true;
  struct Done {
    bool& flag;
    ~Done() { flag = false; }
  } done{processing_};
  size_t used = 0;
  const int64_t read_at_ms = steady_ms();  // the packets of one read arrived together
  while (!closing_ && !closed_ && !hold_input_ && !at_limit()) {
    FrameHeader h;
    const std::span<const uint8_t> avail = input.subspan(used);
    // Anything but CONNECT first is refused at its first byte, not after its length arrives.
    if (!connected_ && !avail.empty() &&
        (avail[0] >> 4) != static_cast<int>(PacketType::kConnect)) {
      protocol_failure({reason::kProtocolError, "the first packet must be CONNECT"});
      break;
    }
    switch (read_frame_header(avail, server_.options.max_packet_bytes, h)) {
      case FrameStatus::kNeedMore:
        tr().frame_want = h.header_bytes ? static_cast<uint32_t>(h.total()) : 0;
        return used;
      case FrameStatus::kMalformed:
        protocol_failure({reason::kMalformedPacket, "bad fixed header"});
        return used;
      case FrameStatus::kTooLarge:
        protocol_failure(
            {reason::kPacketTooLarge, "packet of " + std::to_string(h.total()) + " bytes exceeds " +
                                          std::to_string(server_.options.max_packet_bytes)});
        return used;
      case FrameStatus::kComplete:
        break;
    }
    const std::span<const uint8_t> body = avail.subspan(h.header_bytes, h.remaining);
    used += h.total();
    last_packet_ms_.store(read_at_ms, std::memory_order_relaxed);
    handle_packet(h, body);
  }
  return used;
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
      if (d.properties.session_expiry_interval &&
          (session_ || *d.properties.session_expiry_interval > 0)) {
        ensure_session();
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
  if (!writing_ && (!corked_ || closing_)) write_next();
}

void Connection::send_shared(std::shared_ptr<const void> owner, std::string_view bytes) {
  if (closed_ || bytes.empty()) return;
  if (!shared_out_) shared_out_ = std::make_unique<SharedOut>();
  if (!out_queued_.empty()) {  // what was queued before goes first
    auto own = std::make_shared<const std::string>(std::move(out_queued_));
    out_queued_.clear();
    shared_out_->queued.push_back({own, *own});
  }
  shared_out_->queued.push_back({std::move(owner), bytes});
  out_bytes_ += bytes.size();
}

void Connection::write_next() {
  const bool shared = shared_out_ && !shared_out_->queued.empty();
  if ((out_queued_.empty() && !shared) || closed_) {
    writing_ = false;
    if (closing_ && !closed_) finish_close();
    return;
  }
  // Everything queued goes in one write (a burst of acks after a commit is one syscall; a
  // consumer's drain is one gathered write of shared packets).
  writing_ = true;
  tr().out_writing.swap(out_queued_);
  out_queued_.clear();
  auto done = [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
    if (self->closed_) return;
    self->out_bytes_ -= self->tr().out_writing.size();
    self->tr().out_writing.clear();
    if (self->shared_out_) {
      self->out_bytes_ -= self->shared_out_->writing_bytes;
      self->shared_out_->writing.clear();
      self->shared_out_->writing_bytes = 0;
    }
    self->after_write(ec);
  };
  if (!shared) return transport_.async_write(net::buffer(tr().out_writing), std::move(done));
  SharedOut& so = *shared_out_;
  so.writing.swap(so.queued);
  std::vector<net::const_buffer> buffers;
  buffers.reserve(so.writing.size() + 1);
  for (const SharedBytes& b : so.writing) {
    buffers.emplace_back(b.bytes.data(), b.bytes.size());
    so.writing_bytes += b.bytes.size();
  }
  if (!tr().out_writing.empty())
    buffers.emplace_back(tr().out_writing.data(), tr().out_writing.size());
  transport_.async_write(buffers, std::move(done));
}

void Connection::after_write(const boost::system::error_code& ec) {
  account_buffered();
  if (ec) {
    close(reason::kUnspecifiedError, "write failed: " + ec.message());
    return finish_close();
  }
  write_next();
  drain_consumer();
  if (!closing_) {
    process_buffer();
    read_more();
  }
  release_idle_traffic();
}

void Connection::close(uint8_t reason_code, std::string_view why) {
  if (closed_ || closing_) return;
  server_.metrics.closed.with({reason_label(reason_code)}).inc();
  spdlog::debug("event=mqtt_close client={} reason=0x{:02x} why=\"{}\"", client_id_, reason_code,
                why);
  closing_ = true;
  idle_limit_ms_.store(INT64_MAX, std::memory_order_relaxed);
  if (reason_code != reason::kSuccess) {
    if (connected_ && version_ == Version::kV5 && reason_code >= 0x80)
      send(encode_disconnect(reason_code, why));
    publish_will();  // abnormal end
  }
  if (!writing_) write_next();  // what is queued (corked acks) first, then finish_close()
}

void Connection::finish_close() {
  if (closed_) return;
  closed_ = true;
  transport_.close();
  out_queued_.clear();
  // The traffic block stays until the connection goes: a caller up the stack may still hold
  // the input being parsed.
  if (traffic_) traffic_->out_writing.clear();
  shared_out_.reset();
  out_bytes_ = 0;
  if (traffic_) traffic_->in_start = traffic_->in_end = 0;
  account_buffered();
  if (pending_acks()) server_.inflight.fetch_sub(static_cast<int64_t>(pending_acks()));
  server_.metrics.inflight.add(-static_cast<double>(pending_acks()));
  if (traffic_) {
    traffic_->acks.clear();
    traffic_->acks_head = 0;
  }
  drop_consumer();
  if (connected_) {
    server_.connected_clients.fetch_sub(1);
    if (counted_device_)
      server_.deps.connections.on_disconnect(device_id_, server_.deps.clock.now_ms());
    std::map<std::string, uint8_t> subs;
    if (session_) {
      std::lock_guard lock(session_->mu);
      subs = session_->subscriptions;
      const int64_t now = server_.deps.clock.now_ms();
      session_->expires_at_ms =
          session_->expiry_ms > INT64_MAX - now ? INT64_MAX : now + session_->expiry_ms;
    }
    for (const auto& [filter, qos] : subs) server_.unsubscribe(filter, this);
    bool owner = false, keep = false;
    {
      // A clean session without a Session object still has its slot (for takeover).
      std::lock_guard lock(server_.sessions_mu);
      auto it = server_.sessions.find(client_id_);
      if (it != server_.sessions.end() && it->second.owner.lock().get() == this) {
        owner = true;
        if (session_) {
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
    if (session_ && owner && keep)
      server_.store_session(client_id_, *session_);
    else if (session_ && owner)
      server_.unstore_session(client_id_, *session_);
  }
  auto self = shared_from_this();
  std::lock_guard lock(server_.conns_mu);
  server_.connections.erase(self);
}

void Connection::arm_keepalive() {
  if (closing_) return;
  // The client may be late by half its interval (MQTT 3.1.2.10); 0: no limit.
  idle_limit_ms_.store(keep_alive_s_ == 0 ? INT64_MAX : int64_t{keep_alive_s_} * 1500,
                       std::memory_order_relaxed);
}

int64_t Connection::steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool Connection::idle_expired(int64_t now) const {
  const int64_t limit = idle_limit_ms_.load(std::memory_order_relaxed);
  return limit != INT64_MAX && now - last_packet_ms_.load(std::memory_order_relaxed) >= limit;
}

void Connection::expire_async() {
  net::post(transport_.get_executor(), [self = shared_from_this()] {
    if (self->closing_ || self->closed_ || !self->idle_expired(steady_ms())) return;
    self->close(reason::kKeepAliveTimeout,
                self->connected_ ? "keep-alive expired" : "no CONNECT in time");
  });
}

void Connection::account_buffered() {
  const auto now =
      static_cast<int64_t>(out_bytes_ + (traffic_ ? traffic_->in_end - traffic_->in_start : 0u));
  if (now != reported_buffered_) {
    server_.metrics.buffered.add(static_cast<double>(now - reported_buffered_));
    reported_buffered_ = now;
  }
}

uint64_t Connection::expect_ack(PacketType type, uint16_t packet_id) {
  tr().acks.push_back({type, packet_id});
  server_.inflight.fetch_add(1);
  server_.metrics.inflight.add(1);
  return acks_base_ + pending_acks() - 1;
}

void Connection::pop_ack() {
  ++tr().acks_head;
  ++acks_base_;
  if (tr().acks_head == tr().acks.size()) {
    tr().acks.clear();
    tr().acks_head = 0;
  } else if (tr().acks_head >= 16 && tr().acks_head * 2 >= tr().acks.size()) {
    // A connection that always has some in flight: drop the done half (amortised O(1)).
    tr().acks.erase(tr().acks.begin(), tr().acks.begin() + static_cast<ptrdiff_t>(tr().acks_head));
    tr().acks_head = 0;
  }
}

void Connection::complete(uint64_t seq, bool durable, uint8_t reason_code) {
  mark_done(seq, durable, reason_code);
  flush_acks();
}

void Connection::complete_all(const std::vector<uint64_t>& seqs, bool durable) {
  for (uint64_t seq : seqs) mark_done(seq, durable, reason::kSuccess);
  flush_acks();
}

void Connection::mark_done(uint64_t seq, bool durable, uint8_t reason_code) {
  if (closed_ || seq < acks_base_ || seq - acks_base_ >= pending_acks()) return;
  PendingAck& a = tr().acks[tr().acks_head + (seq - acks_base_)];
  a.done = true;
  a.failed = !durable;
  a.reason_code = reason_code;
}

void Connection::flush_acks() {
  // The acks below leave in one write (after the loop), not the first alone.
  const bool was_corked = std::exchange(corked_, true);
  struct Uncork {
    Connection& c;
    bool was;
    ~Uncork() {
      c.corked_ = was;
      if (!was && !c.writing_ && !c.out_queued_.empty()) c.write_next();
    }
  } uncork{*this, was_corked};
  // Accounted before the acks leave (this is destroyed before `uncork` writes them): a client
  // that saw its ack sees the gauge without it. Once for all of them: the counters are shared
  // by the I/O threads.
  struct Account {
    Connection& c;
    int64_t taken = 0;
    void now() {
      if (taken == 0) return;
      c.server_.inflight.fetch_sub(taken);
      c.server_.metrics.inflight.add(-static_cast<double>(taken));
      taken = 0;
    }
    ~Account() { now(); }
  } account{*this};
  bool popped = false;
  while (pending_acks() && tr().acks[tr().acks_head].done) {
    PendingAck a = std::move(tr().acks[tr().acks_head]);
    pop_ack();
    popped = true;
    ++account.taken;
    if (a.failed) {  // not durable: no ack, so the client sends it again after reconnecting
      account.now();
      return close(reason::kServerBusy, "storage refused the message");
    }
    if (a.type == PacketType::kPubrec && session_) {
      std::lock_guard lock(session_->mu);
      if (a.reason_code >= 0x80)
        session_->awaiting_pubrel.erase(a.packet_id);  // an error PUBREC ends the exchange
      else
        session_->awaiting_pubrel[a.packet_id] = true;
    }
    if (a.prepared && !a.prepared->packet.empty())
      send(std::move(a.prepared->packet));
    else if (a.type != kNoAck)
      send(encode_ack(version_, a.type, a.packet_id, a.reason_code));
    if (a.prepared && a.prepared->then) a.prepared->then();
  }
  account.now();
  if (popped) {
    process_buffer();
    read_more();
  }
}

void Connection::answer(uint64_t seq, std::string packet, std::function<void()> then) {
  if (closed_ || seq < acks_base_ || seq - acks_base_ >= pending_acks()) return;
  PendingAck& a = tr().acks[tr().acks_head + (seq - acks_base_)];
  a.done = true;
  a.prepared = std::make_unique<Prepared>(Prepared{std::move(packet), std::move(then)});
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
