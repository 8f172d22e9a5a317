#include "simulate/mqtt_report_sink.h"

#include <mosquitto.h>

#include <charconv>
#include <cstring>

#include "simulate/message_json.h"

namespace fp::sim {
namespace {

constexpr auto kDrainTimeout = std::chrono::seconds(60);

}  // namespace

Result<MqttTarget> parse_mqtt_target(std::string_view url) {
  constexpr std::string_view kScheme = "mqtt://";
  const auto bad = [&] {
    return Status::InvalidArgument("--target must look like mqtt://HOST[:PORT], got '" +
                                   std::string(url) + "'");
  };
  if (url.substr(0, kScheme.size()) != kScheme) return bad();
  std::string_view rest = url.substr(kScheme.size());
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  MqttTarget t;
  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) {
    t.host = std::string(rest);
  } else {
    t.host = std::string(rest.substr(0, colon));
    std::string_view port = rest.substr(colon + 1);
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), t.port);
    if (ec != std::errc() || p != port.data() + port.size() || t.port < 1 || t.port > 65535)
      return bad();
  }
  if (t.host.empty() || t.host.find('/') != std::string::npos) return bad();
  return t;
}

MqttReportSink::MqttReportSink(RunStats& stats, int max_in_flight)
    : stats_(stats), max_in_flight_(static_cast<size_t>(std::max(max_in_flight, 1))) {}

Result<std::unique_ptr<MqttReportSink>> MqttReportSink::connect(const MqttTarget& target,
                                                                RunStats& stats,
                                                                int max_in_flight) {
  mosquitto_lib_init();
  std::unique_ptr<MqttReportSink> sink(new MqttReportSink(stats, max_in_flight));
  sink->client_ = mosquitto_new(nullptr, true, sink.get());
  if (!sink->client_) return Status::Internal("cannot create an MQTT client");
  mosquitto_connect_callback_set(sink->client_, &MqttReportSink::on_connect_cb);
  mosquitto_publish_callback_set(sink->client_, &MqttReportSink::on_publish_cb);
  mosquitto_max_inflight_messages_set(sink->client_, static_cast<unsigned>(max_in_flight));
  mosquitto_reconnect_delay_set(sink->client_, 1, 10, true);
  int rc = mosquitto_connect(sink->client_, target.host.c_str(), target.port, 30);
  if (rc != MOSQ_ERR_SUCCESS)
    return Status::Unavailable(
        "connect " + target.host + ":" + std::to_string(target.port) + ": " +
        (rc == MOSQ_ERR_ERRNO ? std::string(std::strerror(errno)) : mosquitto_strerror(rc)));
  rc = mosquitto_loop_start(sink->client_);
  if (rc != MOSQ_ERR_SUCCESS) return Status::Internal(mosquitto_strerror(rc));
  return sink;
}

MqttReportSink::~MqttReportSink() {
  if (client_) {
    mosquitto_disconnect(client_);
    mosquitto_loop_stop(client_, false);
    mosquitto_destroy(client_);
  }
  mosquitto_lib_cleanup();
}

void MqttReportSink::on_connect_cb(struct mosquitto*, void* self, int rc) {
  if (rc != 0)
    static_cast<MqttReportSink*>(self)->note_error(std::string("MQTT connection refused: ") +
                                                   mosquitto_connack_string(rc));
}

void MqttReportSink::on_publish_cb(struct mosquitto*, void* self, int mid) {
  static_cast<MqttReportSink*>(self)->on_publish(mid);
}

void MqttReportSink::on_publish(int mid) {
  std::lock_guard lock(mu_);
  auto it = pending_.find(mid);
  if (it == pending_.end()) return;
  const Pending& p = it->second;
  stats_.requests.fetch_add(1);
  stats_.record_latency(std::chrono::steady_clock::now() - p.sent);
  if (p.heartbeat) {
    stats_.heartbeats_accepted.fetch_add(1);
  } else {
    stats_.readings_accepted.fetch_add(p.readings);
    stats_.points_accepted.fetch_add(p.points);
  }
  pending_.erase(it);
  changed_.notify_all();
}

void MqttReportSink::note_error(std::string what) {
  stats_.requests_failed.fetch_add(1);
  std::lock_guard lock(mu_);
  if (first_error_.empty()) first_error_ = std::move(what);
}

std::string MqttReportSink::first_error() const {
  std::lock_guard lock(mu_);
  return first_error_;
}

size_t MqttReportSink::in_flight() const {
  std::lock_guard lock(mu_);
  return pending_.size();
}

void MqttReportSink::register_device(const SimDevice&) {
  stats_.devices_registered.fetch_add(1);  // registered by the server on its first message
}

void MqttReportSink::publish(const std::string& topic, const std::string& payload, Pending p) {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [this] { return pending_.size() < max_in_flight_ * 4; });
  p.sent = std::chrono::steady_clock::now();
  int mid = 0;
  // The lock is held across the call so that the PUBACK callback finds the entry.
  const int rc = mosquitto_publish(client_, &mid, topic.c_str(), static_cast<int>(payload.size()),
                                   payload.data(), 1, false);
  if (rc != MOSQ_ERR_SUCCESS) {
    lock.unlock();
    note_error("publish " + topic + ": " + mosquitto_strerror(rc));
    return;
  }
  pending_.emplace(mid, p);
}

void MqttReportSink::send_readings(std::vector<OutgoingReading> batch) {
  // One message per device: its readings of this batch (one, or what it buffered).
  std::map<std::string_view, std::vector<OutgoingReading>> by_device;
  for (auto& r : batch) by_device[r.device->id].push_back(std::move(r));
  for (auto& [id, readings] : by_device) {
    Pending p;
    p.readings = readings.size();
    for (const auto& r : readings) p.points += r.reading.values.size();
    const std::string body = readings.size() == 1 ? encode_reading_json(readings.front())
                                                  : encode_readings_json(readings);
    publish("devices/" + std::string(id) + "/telemetry", body, p);
  }
}

void MqttReportSink::send_heartbeat(const HeartbeatMessage& hb) {
  Pending p;
  p.heartbeat = true;
  publish("devices/" + hb.device_id + "/heartbeat", encode_heartbeat_json(hb), p);
}

void MqttReportSink::drain() {
  std::unique_lock lock(mu_);
  if (!changed_.wait_for(lock, kDrainTimeout, [this] { return pending_.empty(); })) {
    const size_t lost = pending_.size();
    pending_.clear();
    lock.unlock();
    note_error(std::to_string(lost) + " MQTT messages without PUBACK after 60 s");
  }
}

}  // namespace fp::sim
