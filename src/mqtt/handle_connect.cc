// CONNECT: version, credentials, client id, session takeover and resumption, CONNACK.

#include <spdlog/spdlog.h>

#include "auth/auth_throttle.h"
#include "model/device.h"
#include "mqtt/connection.h"
#include "mqtt/packet_encoder.h"
#include "storage/catalog/write_queue.h"

namespace fp::mqtt {
namespace {

// 3.1.1 clean session 0, v5 session expiry > 0.
bool wants_persistent_session(const Connect& c) {
  return c.version == Version::kV5 ? c.properties.session_expiry_interval.value_or(0) > 0
                                   : !c.clean_start;
}

}  // namespace

void Connection::refuse_connect(Version v, uint8_t reason_code, std::string_view why) {
  server_.metrics.accepted.with({"refused"}).inc();
  spdlog::info("event=mqtt_connect_refused client={} reason=0x{:02x} detail=\"{}\"", client_id_,
               reason_code, why);
  send(encode_connack(v, false, reason_code));
  close(reason::kSuccess, why);  // the CONNACK already says why
}

bool Connection::authenticate(const Connect& c, uint8_t& reason_code) {
  const std::string username = c.username.value_or("");
  if (!server_.options.auth) {
    any_device_ = true;
    // A device that names itself (user name, else client id) gets its connection state shown.
    if (validate_device_id(username).empty())
      device_id_ = username;
    else if (validate_device_id(c.client_id).empty())
      device_id_ = c.client_id;
    return true;
  }
  if (!c.password) {
    reason_code = reason::kNotAuthorized;
    return false;
  }
  if (auto token = server_.deps.device_tokens.token_id_for(username, *c.password)) {
    device_id_ = username;
    credential_.set_token_id(std::move(*token));  // revoking it closes this connection
    return true;
  }
  // An operator key with the write role: a gateway that publishes for many devices.
  auto who = server_.deps.api_keys.authenticate("Bearer " + *c.password);
  if (who && role_allows(who->role, ApiRole::kWrite)) {
    any_device_ = true;
    credential_.set_key_id(who->key_id);
    return true;
  }
  if (who && authenticate_consumer(*who)) return true;
  reason_code = reason::kBadUserNameOrPassword;
  return false;
}

void Connection::attach_session(const Connect& c,
                                std::function<void(Status, bool session_present)> connack) {
  const bool persistent = wants_persistent_session(c);
  // v5 0xFFFFFFFF and 3.1.1 persistent sessions never expire.
  const uint32_t interval = c.properties.session_expiry_interval.value_or(0xFFFFFFFF);
  const int64_t expiry_ms =
      c.version == Version::kV5 && interval != 0xFFFFFFFF ? int64_t{interval} * 1000 : INT64_MAX;
  const int64_t now = server_.deps.clock.now_ms();
  bool session_present = false;
  std::shared_ptr<Connection> previous;
  std::shared_ptr<Session> discarded;  // a stored session this connection does not resume
  std::vector<std::string> pruned;
  {
    std::lock_guard lock(server_.sessions_mu);
    if (!server_.sessions.count(client_id_)) pruned = server_.prune_sessions_locked(now);
    auto& slot = server_.sessions[client_id_];
    previous = slot.owner.lock();
    bool resumable = false;
    if (slot.session && !c.clean_start) {
      std::lock_guard slock(slot.session->mu);
      resumable = previous || slot.session->expires_at_ms > now;
    }
    if (resumable) {
      session_present = true;
    } else {
      // A clean session still open elsewhere has no Session object yet: taken over without
      // clean start, it is resumed as the empty session it is.
      session_present = !slot.session && previous && !c.clean_start;
      discarded = std::move(slot.session);
      // A clean session gets its Session when it first needs one (ensure_session()): ~300
      // bytes less per idle device connection.
      if (persistent) slot.session = std::make_shared<Session>();
    }
    slot.owner = weak_from_this();
    session_ = slot.session;
  }
  // Catalog writes are queued, never waited for here; the CONNACK follows their commit (the
  // queue commits in order, so the last one's completion covers those before it).
  bool queued = !pruned.empty();
  for (const auto& id : pruned)
    write_and_forget([id](Catalog& cat) { return cat.delete_mqtt_session(id); },
                     "drop session " + id);
  if (discarded) queued = server_.unstore_session(client_id_, *discarded) || queued;
  if (session_) {
    std::lock_guard lock(session_->mu);
    session_->persistent = persistent;
    session_->expiry_ms = expiry_ms;
    session_->expires_at_ms = INT64_MAX;
    session_->device_id = device_id_;
    for (const auto& [filter, qos] : session_->subscriptions)
      server_.subscribe(filter, shared_from_this());
  }
  auto then = [connack = std::move(connack), session_present](Status s) {
    connack(std::move(s), session_present);
  };
  // A persistent session is stored before CONNACK: kept across kill -9 from then on (with
  // expires_at "connected": its expiry starts at the next start if the server dies).
  const bool waits = !session_    ? false
                     : persistent ? server_.store_session(client_id_, *session_, on_strand(then))
                                  : server_.unstore_session(client_id_, *session_, on_strand(then));
  if (!waits && queued)  // a dropped session's delete commits before the CONNACK says it is gone
    write_later(
        server_.deps.catalog, [](Catalog&) { return Status::Ok(); }, on_strand(then));
  else if (!waits)
    then(Status::Ok());
  // Client-id takeover: the older connection goes (MQTT-3.1.4-2).
  if (previous && previous.get() != this)
    previous->close_async(reason::kSessionTakenOver, "another connection took the client id");
}

void Connection::handle_connect(uint8_t flags, std::span<const uint8_t> body) {
  Connect c;
  if (DecodeResult d = decode_connect(flags, body, c); !d.ok()) {
    server_.metrics.rejected.with({"bad_connect"}).inc();
    // A version we do not speak is answered (in 3.1.1 form, which every client reads); for
    // other errors only a v5 client gets a CONNACK with the reason.
    if (d.reason == reason::kUnsupportedProtocolVersion)
      return refuse_connect(Version::kV311, d.reason, d.message);
    if (c.version == Version::kV5) return refuse_connect(c.version, d.reason, d.message);
    return protocol_failure(d);
  }
  version_ = c.version;
  client_id_ = c.client_id;
  if (c.properties.authentication_method)
    return refuse_connect(version_, reason::kBadAuthenticationMethod,
                          "extended authentication is not supported");
  if (server_.stopping.load())
    return refuse_connect(version_, reason::kServerUnavailable, "the server is shutting down");
  if (server_.connected_clients.load() >= server_.options.max_connections)
    return refuse_connect(version_, reason::kServerBusy, "connection limit reached");
  Properties ack_props;
  if (client_id_.empty()) {
    if (version_ == Version::kV311 && !c.clean_start)
      return refuse_connect(version_, reason::kClientIdNotValid,
                            "an empty client id needs clean session 1");
    client_id_ = "fp-auto-" + std::to_string(server_.next_auto_id.fetch_add(1));
    if (version_ == Version::kV5) ack_props.assigned_client_id = client_id_;
  } else if (client_id_.size() > 256) {
    return refuse_connect(version_, reason::kClientIdNotValid, "client id longer than 256 bytes");
  }
  // Failed-authentication throttle (auth/auth_throttle.h), per client address, shared with
  // HTTP: refused unchecked while too many refusals wait, else a refusal is answered late
  // (reading stops meanwhile, so nothing sent after CONNECT reveals the outcome earlier).
  AuthThrottle* throttle = server_.options.auth ? server_.deps.api_keys.throttle() : nullptr;
  boost::system::error_code peer_ec;
  const std::string peer = transport_.lowest().remote_endpoint(peer_ec).address().to_string();
  if (throttle && c.password && throttle->saturated(peer, "mqtt"))
    return refuse_connect(version_, reason::kServerBusy,
                          "too many failed authentications from this address");
  uint8_t refusal = reason::kSuccess;
  if (!authenticate(c, refusal)) {
    const auto wait = throttle && c.password ? throttle->failed(peer, "mqtt") : AuthThrottle::Ms{0};
    if (wait.count() == 0)
      return refuse_connect(version_, refusal, "bad or missing device credentials");
    closing_ = true;  // no more input is read or handled until the refusal goes out
    auto timer = std::make_shared<net::steady_timer>(transport_.get_executor(), wait);
    timer->async_wait([self = shared_from_this(), timer, throttle, peer,
                       refusal](const boost::system::error_code&) {
      throttle->answered(peer);
      if (self->closed_) return;
      self->closing_ = false;
      self->refuse_connect(self->version_, refusal, "bad or missing device credentials");
    });
    return;
  }
  if (c.will) {
    // A will is checked now, as if it were published now.
    auto m = server_.options.topics.match(c.will->topic);
    if (m && !any_device_ && m->device_id != device_id_)
      return refuse_connect(version_, reason::kNotAuthorized,
                            "the will topic belongs to another device");
    will_ = std::make_unique<Will>(std::move(*c.will));
  }
  // A persistent session is stored before its CONNACK: refused at once while the disk is behind
  // (a clean session needs no write and connects as usual).
  if (wants_persistent_session(c))
    if (std::string why = disk_behind("connect"); !why.empty())
      return refuse_connect(version_, reason::kServerBusy, "the disk is behind: " + why);
  keep_alive_s_ = c.keep_alive_s;
  client_max_packet_ = c.properties.maximum_packet_size.value_or(0);
  client_receive_max_ = c.properties.receive_maximum.value_or(65535);

  connected_ = true;
  hold_input_ = true;  // nothing else is read before the CONNACK leaves
  server_.connected_clients.fetch_add(1);
  server_.metrics.accepted.with({"accepted"}).inc();
  if (!device_id_.empty()) {
    counted_device_ = true;
    server_.deps.connections.on_connect(device_id_, server_.deps.clock.now_ms());
  }
  if (version_ == Version::kV5) {
    ack_props.receive_maximum = server_.options.max_inflight;
    ack_props.maximum_packet_size = static_cast<uint32_t>(server_.options.max_packet_bytes);
    ack_props.retain_available = 0;
    ack_props.wildcard_subscription_available = may_consume() ? 1 : 0;
    ack_props.shared_subscription_available = 0;
  }
  idle_limit_ms_.store(INT64_MAX, std::memory_order_relaxed);  // no timeout until the CONNACK
  const uint64_t seq = expect_ack(kNoAck, 0);
  attach_session(c, [this, seq, ack_props](Status stored, bool session_present) {
    if (!stored.ok()) {  // the session is not durable: refused, not acknowledged
      server_.metrics.accepted.with({"refused"}).inc();
      return answer(seq, encode_connack(version_, false, reason::kServerUnavailable),
                    [this] { close(reason::kSuccess, "the session could not be stored"); });
    }
    answer(seq, encode_connack(version_, session_present, reason::kSuccess, ack_props),
           [this, session_present] {
             hold_input_ = false;
             arm_keepalive();
             if (session_present) resume_deliveries();
             spdlog::debug(
                 "event=mqtt_connected client={} device={} version={} "
                 "session_present={}",
                 client_id_, device_id_, version_ == Version::kV5 ? 5 : 4, session_present);
           });
  });
}

Session& Connection::ensure_session() {
  if (session_) return *session_;
  auto s = std::make_shared<Session>();
  s->device_id = device_id_;
  {
    std::lock_guard lock(server_.sessions_mu);
    auto it = server_.sessions.find(client_id_);
    // Taken over meanwhile: the session stays this connection's alone, as a clean one would.
    if (it != server_.sessions.end() && it->second.owner.lock().get() == this &&
        !it->second.session)
      it->second.session = s;
  }
  session_ = std::move(s);
  return *session_;
}

}  // namespace fp::mqtt
