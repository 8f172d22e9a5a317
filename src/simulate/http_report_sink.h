#pragma once
// HttpReportSink: the fleet's messages as fleetpulse HTTP API calls over HttpLoadClient:
// POST /api/v1/devices (register), POST /api/v1/telemetry (batched flat JSON readings, one
// request per batch), POST /api/v1/devices/{id}/heartbeat. Answers update RunStats: 200 counts
// every reading as accepted, 422 counts the listed indexes as rejected.

#include <memory>
#include <mutex>

#include "simulate/http_load_client.h"
#include "simulate/report_sink.h"

namespace fp::sim {

class HttpReportSink : public ReportSink {
 public:
  // `stats` must outlive the sink.
  HttpReportSink(HttpTarget target, std::string api_key, int connections, RunStats& stats);

  void register_device(const SimDevice& d) override;
  void send_readings(std::vector<OutgoingReading> batch) override;
  void send_heartbeat(const HeartbeatMessage& hb) override;
  void drain() override { client_.drain(); }
  size_t in_flight() const override { return client_.in_flight(); }
  std::string first_error() const override;

 private:
  void note_error(std::string what);

  RunStats& stats_;
  HttpLoadClient client_;
  mutable std::mutex error_mu_;
  std::string first_error_;  // guarded by error_mu_
};

}  // namespace fp::sim
