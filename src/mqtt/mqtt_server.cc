#include "mqtt/mqtt_server.h"

#include <spdlog/spdlog.h>

#include <thread>

#include "mqtt/connection.h"
#include "mqtt/packet_encoder.h"
#include "util/json_writer.h"

namespace fp::mqtt {

MqttMetrics::MqttMetrics(metrics::Registry& r)
    : connections(r.gauge("fleetpulse_mqtt_connections", "Open MQTT connections.").get()),
      accepted(r.counter("fleetpulse_mqtt_connects_total",
                         "MQTT CONNECT attempts, by result (accepted or refused).", {"result"})),
      messages(r.counter("fleetpulse_mqtt_messages_received_total",
                         "PUBLISH packets received from MQTT clients, by QoS.", {"qos"})),
      rejected(r.counter("fleetpulse_mqtt_rejected_total",
                         "MQTT packets or messages refused, by reason.", {"reason"})),
      closed(r.counter("fleetpulse_mqtt_disconnects_total", "MQTT connections ended, by reason.",
                       {"reason"})),
      inflight(r.gauge("fleetpulse_mqtt_inflight_messages",
                       "MQTT messages received but not yet durable (acks pending).")
                   .get()),
      buffered(r.gauge("fleetpulse_mqtt_buffered_bytes",
                       "Bytes buffered in MQTT connections (unparsed input and unsent output).")
                   .get()),
      paused(r.counter("fleetpulse_mqtt_backpressure_pauses_total",
                       "Times an MQTT connection stopped being read because it hit its limit "
                       "of in-flight messages or buffered bytes.")
                 .get()),
      delivered(r.counter("fleetpulse_mqtt_messages_sent_total",
                          "Config and command messages delivered to subscribed devices.")
                    .get()),
      commands_queued(r.counter("fleetpulse_mqtt_commands_queued_total",
                                "Commands stored for devices (delivered now or queued).")
                          .get()),
      commands_refused(r.counter("fleetpulse_mqtt_commands_refused_total",
                                 "Commands refused because the queue was full (HTTP 429).")
                           .get()),
      commands_expired(r.counter("fleetpulse_mqtt_commands_expired_total",
                                 "Queued commands dropped unacknowledged at their expiry.")
                           .get()),
      revoked(r.counter("fleetpulse_mqtt_revocations_total",
                        "MQTT connections closed because their credential was revoked or "
                        "changed, or their device removed.")
                  .get()),
      consumer_sent(r.counter("fleetpulse_mqtt_consumer_messages_sent_total",
                              "Messages sent to MQTT consumers (devices/+/telemetry, "
                              "devices/+/heartbeat, fleet/status, fleet/alerts).")
                        .get()),
      consumer_cut(r.counter("fleetpulse_mqtt_consumer_overflows_total",
                             "MQTT consumers disconnected because they fell behind (their "
                             "queue of undelivered messages exceeded its limit).")
                       .get()),
      shed(r.counter("fleetpulse_mqtt_shed_total",
                     "MQTT packets refused because the disk is behind (CONNECT of a persistent "
                     "session, SUBSCRIBE, PUBLISH), by packet.",
                     {"packet"})),
      ingest_batches(r.counter("fleetpulse_mqtt_ingest_batches_total",
                               "Telemetry batches MQTT submitted for storage: the telemetry "
                               "PUBLISHes of one socket read go as one batch.")
                         .get()) {
  accepted.with({"accepted"});
  accepted.with({"refused"});
  for (int q = 0; q < 3; ++q) messages_by_qos[q] = &messages.with({std::to_string(q)});
  for (const char* p : {"connect", "subscribe", "publish"}) shed.with({p});
}

void ServerState::subscribe(const std::string& topic, const std::shared_ptr<Connection>& c) {
  std::lock_guard lock(subs_mu);
  auto& list = subscribers[topic];
  for (const auto& w : list)
    if (w.lock() == c) return;
  list.push_back(c);
}

void ServerState::unsubscribe(const std::string& topic, const Connection* c) {
  std::lock_guard lock(subs_mu);
  auto it = subscribers.find(topic);
  if (it == subscribers.end()) return;
  auto& list = it->second;
  std::erase_if(list, [c](const std::weak_ptr<Connection>& w) {
    auto s = w.lock();
    return !s || s.get() == c;
  });
  if (list.empty()) subscribers.erase(it);
}

std::vector<std::string> ServerState::prune_sessions_locked(int64_t now_ms) {
  std::vector<std::string> dropped;
  const size_t cap = 2 * options.max_connections;
  if (sessions.size() < cap) return dropped;
  auto absent_and = [&](bool expired_only) {
    for (auto it = sessions.begin(); it != sessions.end() && sessions.size() >= cap;) {
      bool drop = false;
      if (!it->second.owner.lock() && !it->second.session) {
        drop = true;  // a clean session's slot whose connection is closing
      } else if (!it->second.owner.lock()) {
        std::lock_guard lock(it->second.session->mu);
        drop = !expired_only || it->second.session->expires_at_ms <= now_ms;
        if (drop && it->second.session->stored) dropped.push_back(it->first);
      }
      it = drop ? sessions.erase(it) : std::next(it);
    }
  };
  absent_and(true);
  if (sessions.size() >= cap) {
    spdlog::warn("event=mqtt_sessions_dropped reason=\"more than {} stored sessions\"", cap);
    const size_t before = sessions.size();
    absent_and(false);
    deps.server_metrics.ingest_rejected.with({"session_pruned"})
        .inc(static_cast<double>(before - sessions.size()));
  }
  return dropped;
}

bool ServerState::store_session(const std::string& client_id, Session& s,
                                CatalogWriteQueue::Done done) {
  MqttSessionRecord r;
  std::lock_guard lock(s.mu);  // held while queuing: the session's writes keep their order
  if (!s.persistent) return false;
  r.client_id = client_id;
  r.device_id = s.device_id;
  r.expiry_ms = s.expiry_ms;
  r.expires_at_ms = s.expires_at_ms;
  r.subscriptions.assign(s.subscriptions.begin(), s.subscriptions.end());
  s.stored = true;
  write_later(
      deps.catalog, [r = std::move(r)](Catalog& c) { return c.put_mqtt_session(r); },
      [client_id, done = std::move(done)](Status st) {
        if (!st.ok())
          spdlog::error("event=mqtt_session_store_failed client={} reason=\"{}\"", client_id,
                        st.message());
        if (done) done(std::move(st));
      });
  return true;
}

bool ServerState::unstore_session(const std::string& client_id, Session& s,
                                  CatalogWriteQueue::Done done) {
  std::lock_guard lock(s.mu);
  if (!s.stored) return false;
  s.stored = false;
  write_later(
      deps.catalog, [client_id](Catalog& c) { return c.delete_mqtt_session(client_id); },
      [client_id, done = std::move(done)](Status st) {
        if (!st.ok())
          spdlog::error("event=mqtt_session_delete_failed client={} reason=\"{}\"", client_id,
                        st.message());
        if (done) done(std::move(st));
      });
  return true;
}

std::vector<std::shared_ptr<Connection>> ServerState::subscribers_of(const std::string& topic) {
  std::vector<std::shared_ptr<Connection>> out;
  std::lock_guard lock(subs_mu);
  auto it = subscribers.find(topic);
  if (it == subscribers.end()) return out;
  for (const auto& w : it->second)
    if (auto s = w.lock()) out.push_back(std::move(s));
  return out;
}

struct MqttServer::Impl {
  Impl(MqttServerOptions o, MqttServerDeps d)
      : state(std::move(o), d), ssl(net::ssl::context::tls_server) {}

  ServerState state;  // declared first: connections destroyed with ioc still refer to it
  // One io_context per I/O thread; a connection lives on one of them (round robin at accept),
  // which serializes its handlers as a strand would. The first also runs the acceptors and
  // the sweep.
  std::vector<std::unique_ptr<net::io_context>> iocs = make_iocs(state.options.threads);
  net::io_context& ioc = *iocs.front();
  size_t next_ioc = 0;  // used by the accept handlers, which run on ioc's one thread
  net::ssl::context ssl;
  std::optional<tcp::acceptor> plain, tls;
  std::vector<std::thread> threads;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work;
  net::steady_timer sweep{ioc};

  static std::vector<std::unique_ptr<net::io_context>> make_iocs(int threads) {
    std::vector<std::unique_ptr<net::io_context>> v;
    for (int i = 0; i < std::max(1, threads); ++i)
      v.push_back(std::make_unique<net::io_context>(1));
    return v;
  }
  net::io_context::executor_type next_executor() {
    return iocs[next_ioc++ % iocs.size()]->get_executor();
  }

  // Every half second: closes the connections silent past their limit (connect timeout or
  // keep-alive), one timer for all of them. A connection's limit is checked lock-free; only
  // the expired ones get a handler posted.
  void sweep_idle() {
    sweep.expires_after(std::chrono::milliseconds(500));
    sweep.async_wait([this](const boost::system::error_code& ec) {
      if (ec || state.stopping.load()) return;
      const int64_t now = Connection::steady_ms();
      {
        std::lock_guard lock(state.conns_mu);
        for (const auto& c : state.connections)
          if (c->idle_expired(now)) c->expire_async();
      }
      sweep_idle();
    });
  }

  Status bind(std::optional<tcp::acceptor>& a, const std::string& host, uint16_t port) {
    boost::system::error_code ec;
    auto addr = net::ip::make_address(host, ec);
    if (ec) return Status::InvalidArgument("MQTT listen address '" + host + "' is not an IP");
    a.emplace(ioc);
    tcp::endpoint ep(addr, port);
    a->open(ep.protocol(), ec);
    if (!ec) a->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) a->bind(ep, ec);
    if (!ec) a->listen(net::socket_base::max_listen_connections, ec);
    if (ec)
      return Status::Unavailable("cannot listen for MQTT on " + host + ":" + std::to_string(port) +
                                 ": " + ec.message());
    return Status::Ok();
  }

  // Accepts on `a` forever. After an accept error other than a client's abort (EMFILE, ENFILE,
  // ENOMEM: the pending connection stays queued and the next accept fails at once) it waits
  // 50 ms, doubling up to 500 ms, instead of spinning; a success resets the wait.
  void accept(tcp::acceptor& a, bool use_tls,
              std::chrono::milliseconds backoff = std::chrono::milliseconds(0)) {
    a.async_accept(next_executor(), [this, &a, use_tls, backoff](
                                        const boost::system::error_code& ec, Socket s) {
      if (ec == net::error::operation_aborted || state.stopping.load()) return;
      if (ec && ec != net::error::connection_aborted) {
        const auto wait =
            std::clamp(backoff * 2, std::chrono::milliseconds(50), std::chrono::milliseconds(500));
        if (backoff.count() == 0)
          spdlog::warn("event=accept_failed transport=mqtt reason=\"{}\" retry_ms={}", ec.message(),
                       wait.count());
        auto timer = std::make_shared<net::steady_timer>(ioc, wait);
        timer->async_wait([this, &a, use_tls, wait, timer](const boost::system::error_code&) {
          if (!state.stopping.load()) accept(a, use_tls, wait);
        });
        return;
      }
      if (!ec) {
        boost::system::error_code ignored;
        s.set_option(tcp::no_delay(true), ignored);
        std::shared_ptr<Connection> c =
            use_tls ? std::make_shared<Connection>(state, Transport(std::move(s), ssl))
                    : std::make_shared<Connection>(state, Transport(std::move(s)));
        {
          std::lock_guard lock(state.conns_mu);
          state.connections.insert(c);
        }
        c->start();
      }
      accept(a, use_tls);
    });
  }
};

MqttServer::MqttServer(MqttServerOptions options, MqttServerDeps deps)
    : impl_(std::make_unique<Impl>(std::move(options), deps)) {
  // Consumers' QoS 0 packets are encoded by the feed's thread, once per batch and version.
  if (deps.consumers)
    deps.consumers->set_packet_encoder(
        [](size_t slot, std::string_view topic, std::string_view payload, std::string& out) {
          append_publish_qos0(slot ? Version::kV5 : Version::kV311, topic, payload, out);
        });
}

MqttServer::~MqttServer() {
  shutdown(std::chrono::milliseconds(0));
}

Status MqttServer::restore_sessions() {
  ServerState& st = impl_->state;
  auto stored = st.deps.catalog.load_mqtt_sessions();
  if (!stored.ok()) return stored.status();
  const int64_t now = st.deps.clock.now_ms();
  size_t restored = 0;
  for (auto& r : *stored) {
    // Connected when the server stopped (or crashed): the expiry starts now.
    if (r.expires_at_ms == INT64_MAX && r.expiry_ms != INT64_MAX)
      r.expires_at_ms = r.expiry_ms > INT64_MAX - now ? INT64_MAX : now + r.expiry_ms;
    if (r.expires_at_ms <= now) {
      (void)st.deps.catalog.delete_mqtt_session(r.client_id);
      continue;
    }
    auto s = std::make_shared<Session>();
    s->subscriptions.insert(r.subscriptions.begin(), r.subscriptions.end());
    s->persistent = true;
    s->expiry_ms = r.expiry_ms;
    s->expires_at_ms = r.expires_at_ms;
    s->device_id = r.device_id;
    s->stored = true;
    if (Status w = st.deps.catalog.put_mqtt_session(r); !w.ok()) return w;
    std::lock_guard lock(st.sessions_mu);
    st.sessions[r.client_id].session = std::move(s);
    ++restored;
  }
  if (Status s = st.deps.catalog.delete_expired_pushes(now).status(); !s.ok()) return s;
  spdlog::info("event=mqtt_sessions_restored sessions={}", restored);
  return Status::Ok();
}

Status MqttServer::listen() {
  const auto& o = impl_->state.options;
  if (o.plain_enabled)
    if (Status s = impl_->bind(impl_->plain, o.host, o.port); !s.ok()) return s;
  if (o.tls_enabled) {
    boost::system::error_code ec;
    impl_->ssl.set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                           net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                           net::ssl::context::no_tlsv1_1);
    impl_->ssl.use_certificate_chain_file(o.tls_cert_file, ec);
    if (ec)
      return Status::InvalidArgument("cannot load TLS certificate " + o.tls_cert_file + ": " +
                                     ec.message());
    impl_->ssl.use_private_key_file(o.tls_key_file, net::ssl::context::pem, ec);
    if (ec)
      return Status::InvalidArgument("cannot load TLS key " + o.tls_key_file + ": " + ec.message());
    if (Status s = impl_->bind(impl_->tls, o.tls_host, o.tls_port); !s.ok()) return s;
  }
  return Status::Ok();
}

uint16_t MqttServer::port() const {
  return impl_->plain ? impl_->plain->local_endpoint().port() : 0;
}
uint16_t MqttServer::tls_port() const {
  return impl_->tls ? impl_->tls->local_endpoint().port() : 0;
}

void MqttServer::start() {
  for (auto& ioc : impl_->iocs) impl_->work.emplace_back(ioc->get_executor());
  if (impl_->plain) impl_->accept(*impl_->plain, false);
  if (impl_->tls) impl_->accept(*impl_->tls, true);
  impl_->sweep_idle();
  for (auto& ioc : impl_->iocs) impl_->threads.emplace_back([ioc = ioc.get()] { ioc->run(); });
}

void MqttServer::shutdown(std::chrono::milliseconds drain) {
  ServerState& st = impl_->state;
  if (impl_->threads.empty()) return;
  st.stopping = true;
  net::post(impl_->ioc, [this] {
    boost::system::error_code ec;
    if (impl_->plain) impl_->plain->close(ec);
    if (impl_->tls) impl_->tls->close(ec);
    impl_->sweep.cancel();
  });
  std::vector<std::shared_ptr<Connection>> conns;
  {
    std::lock_guard lock(st.conns_mu);
    conns.assign(st.connections.begin(), st.connections.end());
  }
  for (auto& c : conns) c->stop_reading_async();
  // Let what was read become durable and be acknowledged.
  const auto deadline = std::chrono::steady_clock::now() + drain;
  while (st.inflight.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  for (auto& c : conns) c->close_async(reason::kServerShuttingDown, "server shutting down");
  const auto close_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < close_deadline) {
    {
      std::lock_guard lock(st.conns_mu);
      if (st.connections.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  conns.clear();
  {
    // Catalog writes still completing post nowhere from now on.
    std::lock_guard lock(st.gate->mu);
    st.gate->open = false;
  }
  impl_->work.clear();
  for (auto& ioc : impl_->iocs) ioc->stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  std::lock_guard lock(st.conns_mu);
  st.connections.clear();
}

void MqttServer::push_config(const std::string& device_id, const std::string& config_json) {
  ServerState& st = impl_->state;
  QueuedPush p;
  p.device_id = device_id;
  p.topic = "devices/" + device_id + "/config";
  p.payload = config_json;
  p.created_at_ms = st.deps.clock.now_ms();
  p.expires_at_ms = p.created_at_ms + st.options.queue_expiry.count();
  // Stored (replacing an older config not yet acknowledged) so a persistent session that is
  // away, or whose client never acknowledged it, gets it when it comes back.
  int64_t expired = 0;
  auto id =
      st.deps.catalog.enqueue_push(p, st.options.queue_limits, p.created_at_ms, true, &expired);
  if (expired > 0) st.metrics.commands_expired.inc(static_cast<double>(expired));
  if (!id.ok()) {
    spdlog::error("event=mqtt_config_store_failed device={} reason=\"{}\"", device_id,
                  id.status().message());
    for (auto& c : st.subscribers_of(p.topic)) c->deliver_async(p.topic, config_json, false);
    return;
  }
  for (auto& c : st.subscribers_of(p.topic)) c->deliver_push_async(p);
}

CommandOutcome MqttServer::push_command(const std::string& device_id, const std::string& payload) {
  ServerState& st = impl_->state;
  CommandOutcome out;
  QueuedPush p;
  p.device_id = device_id;
  p.topic = "devices/" + device_id + "/commands";
  p.payload = payload;
  p.created_at_ms = st.deps.clock.now_ms();
  p.expires_at_ms = p.created_at_ms + st.options.queue_expiry.count();
  int64_t expired = 0;
  auto id =
      st.deps.catalog.enqueue_push(p, st.options.queue_limits, p.created_at_ms, false, &expired);
  if (expired > 0) st.metrics.commands_expired.inc(static_cast<double>(expired));
  if (!id.ok()) {
    if (id.status().code() == StatusCode::kOverloaded) st.metrics.commands_refused.inc();
    out.status = id.status();
    return out;
  }
  st.metrics.commands_queued.inc();
  out.command_id = *id;
  out.expires_at_ms = p.expires_at_ms;
  auto subs = st.subscribers_of(p.topic);
  for (auto& c : subs) c->deliver_push_async(p);
  out.delivered_to = subs.size();
  return out;
}

namespace {
void close_matching(ServerState& st, Revocation kind, const std::string& id) {
  std::vector<std::shared_ptr<Connection>> conns;
  {
    std::lock_guard lock(st.conns_mu);
    conns.assign(st.connections.begin(), st.connections.end());
  }
  // Each connection checks its own credential on its strand (no lock held across I/O).
  for (auto& c : conns) c->close_if_async(kind, id);
}
}  // namespace

void MqttServer::close_token_sessions(const std::string& token_id) {
  close_matching(impl_->state, Revocation::kToken, token_id);
}

void MqttServer::close_key_sessions(const std::string& key_id) {
  close_matching(impl_->state, Revocation::kApiKey, key_id);
}

void MqttServer::forget_device(const std::string& device_id) {
  ServerState& st = impl_->state;
  close_matching(st, Revocation::kDevice, device_id);
  {
    std::lock_guard lock(st.sessions_mu);
    for (auto it = st.sessions.begin(); it != st.sessions.end();) {
      bool mine = false;
      if (it->second.session) {  // a clean session's slot has none (and an open connection)
        std::lock_guard slock(it->second.session->mu);
        mine = it->second.session->device_id == device_id;
      }
      it = mine && !it->second.owner.lock() ? st.sessions.erase(it) : std::next(it);
    }
  }
  if (Status s = st.deps.catalog.forget_device_mqtt_state(device_id); !s.ok())
    spdlog::error("event=mqtt_forget_device_failed device={} reason=\"{}\"", device_id,
                  s.message());
}

MqttStats MqttServer::stats() const {
  const ServerState& st = impl_->state;
  return {st.open_sockets.load(), st.connected_clients.load(), st.messages.load(),
          static_cast<uint64_t>(std::max<int64_t>(0, st.inflight.load()))};
}

std::string MqttServer::health_json() const {
  const MqttStats s = stats();
  const auto& o = impl_->state.options;
  JsonWriter w;
  w.begin_object();
  w.field("state", impl_->state.stopping.load() ? "stopping" : "ok");
  if (impl_->plain) w.field("address", o.host + ":" + std::to_string(port()));
  if (impl_->tls) w.field("tls_address", o.tls_host + ":" + std::to_string(tls_port()));
  w.field("connections", s.connections);
  w.field("clients", s.sessions);
  w.field("messages", s.messages);
  w.field("inflight", s.inflight);
  w.field("max_connections", static_cast<uint64_t>(o.max_connections));
  w.field("auth", o.auth);
  w.end_object();
  return w.take();
}

// --- TLS certificate reload (SIGHUP) ------------------------------------------------------
namespace {

// The certificate and key new TLS handshakes get, attached to the listener's SSL_CTX (freed
// with it). The live SSL_CTX is never modified after start(): its certificate callback copies
// the current pair into each connection when the handshake reaches certificate selection.
struct ReloadedCertificate {
  std::mutex mu;
  std::shared_ptr<net::ssl::context> current;  // guarded by mu
};

int reloaded_certificate_index() {
  static const int index = SSL_CTX_get_ex_new_index(
      0, nullptr, nullptr, nullptr, [](void*, void* p, CRYPTO_EX_DATA*, int, long, void*) {
        delete static_cast<ReloadedCertificate*>(p);
      });
  return index;
}

int use_reloaded_certificate(SSL* ssl, void* arg) {
  std::shared_ptr<net::ssl::context> ctx;
  {
    auto* r = static_cast<ReloadedCertificate*>(arg);
    std::lock_guard lock(r->mu);
    ctx = r->current;
  }
  SSL_CTX* c = ctx->native_handle();
  STACK_OF(X509)* chain = nullptr;
  SSL_CTX_get0_chain_certs(c, &chain);
  return SSL_use_cert_and_key(ssl, SSL_CTX_get0_certificate(c), SSL_CTX_get0_privatekey(c), chain,
                              1);
}

}  // namespace

Status MqttServer::reload_tls() {
  const auto& o = impl_->state.options;
  if (!o.tls_enabled) return Status::Ok();
  auto fresh = std::make_shared<net::ssl::context>(net::ssl::context::tls_server);
  boost::system::error_code ec;
  fresh->use_certificate_chain_file(o.tls_cert_file, ec);
  if (ec)
    return Status::InvalidArgument("cannot load TLS certificate " + o.tls_cert_file + ": " +
                                   ec.message());
  fresh->use_private_key_file(o.tls_key_file, net::ssl::context::pem, ec);  // checks the pair
  if (ec)
    return Status::InvalidArgument("cannot load TLS key " + o.tls_key_file + ": " + ec.message());
  SSL_CTX* live = impl_->ssl.native_handle();
  auto* r =
      static_cast<ReloadedCertificate*>(SSL_CTX_get_ex_data(live, reloaded_certificate_index()));
  if (r == nullptr) {  // the first call (before start()): install the callback
    r = new ReloadedCertificate;
    r->current = fresh;
    SSL_CTX_set_ex_data(live, reloaded_certificate_index(), r);
    SSL_CTX_set_cert_cb(live, use_reloaded_certificate, r);
  }
  std::lock_guard lock(r->mu);
  r->current = std::move(fresh);
  return Status::Ok();
}

}  // namespace fp::mqtt
