#include "mqtt/bridge_client.h"

#include <mosquitto.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <future>
#include <mutex>
#include <thread>

namespace fp::mqtt {
namespace {

void init_library_once() {
  static std::once_flag once;
  std::call_once(once, [] { mosquitto_lib_init(); });
}

}  // namespace

bool BridgeClient::parse_url(const std::string& url, std::string& host, int& port) {
  constexpr std::string_view kScheme = "mqtt://";
  if (url.rfind(kScheme, 0) != 0) return false;
  std::string rest = url.substr(kScheme.size());
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos) {
    host = rest;
    port = 1883;
  } else {
    host = rest.substr(0, colon);
    try {
      port = std::stoi(rest.substr(colon + 1));
    } catch (...) {
      return false;
    }
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return !host.empty() && port > 0 && port < 65536;
}

BridgeClient::BridgeClient(BridgeOptions options, IngestSinks sinks, const TopicTemplates& topics,
                           metrics::Registry& registry)
    : options_(std::move(options)),
      sinks_(sinks),
      topics_(topics),
      connected_gauge_(registry
                           .gauge("fleetpulse_mqtt_bridge_connected",
                                  "1 while the bridge is connected to the broker.", {"broker"})
                           .with({options_.url})),
      received_(registry
                    .counter("fleetpulse_mqtt_bridge_messages_total",
                             "Messages received from external brokers and stored.", {"broker"})
                    .with({options_.url})),
      rejected_(registry
                    .counter("fleetpulse_mqtt_bridge_rejected_total",
                             "Messages from external brokers that could not be stored.", {"broker"})
                    .with({options_.url})) {}

BridgeClient::~BridgeClient() {
  stop();
}

std::vector<std::string> BridgeClient::subscriptions() const {
  std::vector<std::string> out;
  for (MessageKind kind : {MessageKind::kTelemetry, MessageKind::kHeartbeat})
    for (const std::string& f : topics_.filters(kind, "+"))
      out.push_back(options_.group.empty() ? f : "$share/" + options_.group + "/" + f);
  return out;
}

Status BridgeClient::start() {
  init_library_once();
  // Persistent session: the broker keeps our subscriptions and queues while we are away.
  mosq_ = mosquitto_new(options_.client_id.c_str(), /*clean_session=*/false, this);
  if (!mosq_) return Status::Internal("cannot create an MQTT client for " + options_.url);
  mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_connect_callback_set(mosq_, &BridgeClient::on_connect);
  mosquitto_disconnect_callback_set(mosq_, &BridgeClient::on_disconnect);
  mosquitto_message_callback_set(mosq_, &BridgeClient::on_message);
  mosquitto_reconnect_delay_set(mosq_, 1, 30, /*exponential=*/true);
  if (!options_.username.empty())
    mosquitto_username_pw_set(mosq_, options_.username.c_str(),
                              options_.password.empty() ? nullptr : options_.password.c_str());
  int rc =
      mosquitto_connect_async(mosq_, options_.host.c_str(), options_.port, options_.keepalive_s);
  if (rc != MOSQ_ERR_SUCCESS)
    spdlog::warn("event=mqtt_bridge_connect_failed broker={} error=\"{}\" retrying=true",
                 options_.url, mosquitto_strerror(rc));
  rc = mosquitto_loop_start(mosq_);
  if (rc != MOSQ_ERR_SUCCESS)
    return Status::Internal("cannot start the MQTT client thread: " +
                            std::string(mosquitto_strerror(rc)));
  spdlog::info("event=mqtt_bridge_started broker={} client_id={} group={}", options_.url,
               options_.client_id, options_.group.empty() ? "(none)" : options_.group);
  return Status::Ok();
}

void BridgeClient::stop() {
  if (!mosq_) return;
  stopping_ = true;
  mosquitto_disconnect(mosq_);
  mosquitto_loop_stop(mosq_, /*force=*/false);
  mosquitto_destroy(mosq_);
  mosq_ = nullptr;
  connected_ = false;
  connected_gauge_.set(0);
}

void BridgeClient::on_connect(mosquitto* m, void* self_ptr, int rc) {
  auto* self = static_cast<BridgeClient*>(self_ptr);
  if (rc != 0) {
    spdlog::warn("event=mqtt_bridge_refused broker={} reason=\"{}\"", self->options_.url,
                 mosquitto_connack_string(rc));
    return;
  }
  for (const std::string& s : self->subscriptions()) {
    const int r = mosquitto_subscribe(m, nullptr, s.c_str(), 1);
    if (r != MOSQ_ERR_SUCCESS)
      spdlog::warn("event=mqtt_bridge_subscribe_failed broker={} topic={} error=\"{}\"",
                   self->options_.url, s, mosquitto_strerror(r));
  }
  self->connected_ = true;
  self->connected_gauge_.set(1);
  spdlog::info("event=mqtt_bridge_connected broker={}", self->options_.url);
}

void BridgeClient::on_disconnect(mosquitto*, void* self_ptr, int rc) {
  auto* self = static_cast<BridgeClient*>(self_ptr);
  self->connected_ = false;
  self->connected_gauge_.set(0);
  if (!self->stopping_)
    spdlog::warn("event=mqtt_bridge_disconnected broker={} rc={} reconnecting=true",
                 self->options_.url, rc);
}

void BridgeClient::on_message(mosquitto*, void* self_ptr, const mosquitto_message* msg) {
  static_cast<BridgeClient*>(self_ptr)->handle(msg);
}

void BridgeClient::handle(const mosquitto_message* msg) {
  auto target = topics_.match(msg->topic ? msg->topic : "");
  if (!target) {
    rejected_.inc();
    sinks_.server_metrics.ingest_rejected.with({"unknown_topic"}).inc();
    return;
  }
  const std::string_view payload(static_cast<const char*>(msg->payload),
                                 static_cast<size_t>(std::max(0, msg->payloadlen)));
  // Block this (libmosquitto's) thread until the message is durable; retry while the store is
  // overloaded, since the broker already considers the message delivered.
  for (int attempt = 0;; ++attempt) {
    auto promise = std::make_shared<std::promise<bool>>();
    std::future<bool> durable = promise->get_future();
    Refusal r =
        submit_message(sinks_, *target, payload, [promise](bool ok) { promise->set_value(ok); });
    if (!r.submitted()) {
      rejected_.inc();
      sinks_.server_metrics.ingest_rejected.with({r.label}).inc();
      spdlog::debug("event=mqtt_bridge_message_rejected topic={} reason=\"{}\"", msg->topic,
                    r.detail);
      return;
    }
    if (durable.get()) {
      received_.inc();
      messages_.fetch_add(1);
      return;
    }
    if (stopping_ || attempt >= 50) {
      rejected_.inc();
      sinks_.server_metrics.ingest_rejected.with({"lost"}).inc();
      spdlog::error("event=mqtt_bridge_message_lost topic={} reason=\"storage refused it\"",
                    msg->topic);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100 * (attempt + 1)));
  }
}

}  // namespace fp::mqtt
