#pragma once
// ReportSink: where the simulated fleet's messages go: HttpReportSink (the HTTP API) or
// MqttReportSink (devices/{id}/telemetry and devices/{id}/heartbeat over MQTT).

#include <cstdint>
#include <string>
#include <vector>

#include "simulate/device_model.h"
#include "simulate/run_stats.h"

namespace fp::sim {

// A reading on its way out, with what the summary needs to account for it.
struct OutgoingReading {
  const SimDevice* device = nullptr;
  SimReading reading;
  bool invalid = false;  // encoded with a bad timestamp so the server must reject it
};

struct HeartbeatMessage {
  std::string device_id;
  double battery_level = -1;  // < 0: not sent (mains-powered)
  double signal_strength = 0;
  bool has_geo = false;
  double lat = 0, lon = 0;
  int64_t ts_ms = 0;  // the device's clock when it sent the heartbeat (0: not sent)
};

class ReportSink {
 public:
  virtual ~ReportSink() = default;
  // Registers a device (type, location, name). Already-registered devices count as done.
  virtual void register_device(const SimDevice& d) = 0;
  // Sends a batch of readings; the answer is accounted in the sink's RunStats.
  virtual void send_readings(std::vector<OutgoingReading> batch) = 0;
  virtual void send_heartbeat(const HeartbeatMessage& hb) = 0;
  // Blocks until everything sent so far has been answered.
  virtual void drain() = 0;
  virtual size_t in_flight() const = 0;
  // The first transport error or unexpected answer, if any.
  virtual std::string first_error() const = 0;
};

}  // namespace fp::sim
