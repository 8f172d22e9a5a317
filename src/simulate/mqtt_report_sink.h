#pragma once
// MqttReportSink: the fleet's messages as MQTT publishes (libmosquitto, one connection, QoS 1):
// readings to devices/{id}/telemetry (one JSON reading, or an array when a device uploads what
// it buffered during a dropout), heartbeats to devices/{id}/heartbeat. A reading counts as
// acknowledged when its PUBACK arrives; MQTT carries no per-item rejection, so nothing counts
// as rejected. Devices are not registered (fleetpulse registers them on their first message),
// and the connection uses no per-device credentials: for servers with auth off, or brokers.
//
// Thread safety: called from the producer thread; libmosquitto's network thread runs the
// callbacks, which only touch state guarded by mu_.

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "simulate/report_sink.h"
#include "util/result.h"

struct mosquitto;

namespace fp::sim {

struct MqttTarget {
  std::string host;
  int port = 1883;
};

// Parses "mqtt://host[:port]".
Result<MqttTarget> parse_mqtt_target(std::string_view url);

class MqttReportSink : public ReportSink {
 public:
  // Connects (and keeps reconnecting) to `target`; the error when the client cannot start.
  static Result<std::unique_ptr<MqttReportSink>> connect(const MqttTarget& target, RunStats& stats,
                                                         int max_in_flight);
  ~MqttReportSink() override;

  void register_device(const SimDevice& d) override;
  void send_readings(std::vector<OutgoingReading> batch) override;
  void send_heartbeat(const HeartbeatMessage& hb) override;
  void drain() override;
  size_t in_flight() const override;
  std::string first_error() const override;

 private:
  struct Pending {
    uint64_t readings = 0;
    uint64_t points = 0;
    bool heartbeat = false;
    std::chrono::steady_clock::time_point sent;
  };

  MqttReportSink(RunStats& stats, int max_in_flight);
  void publish(const std::string& topic, const std::string& payload, Pending p);
  void on_publish(int mid);
  void note_error(std::string what);

  static void on_connect_cb(struct mosquitto*, void* self, int rc);
  static void on_publish_cb(struct mosquitto*, void* self, int mid);

  RunStats& stats_;
  const size_t max_in_flight_;
  struct mosquitto* client_ = nullptr;

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<int, Pending> pending_;  // guarded by mu_: by message id, until PUBACK
  std::string first_error_;         // guarded by mu_
};

}  // namespace fp::sim
