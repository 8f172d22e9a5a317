#pragma once
// `fleetpulse simulate`: a realistic fleet that reports to a fleetpulse server over HTTP.
//
// The run registers the devices, optionally backfills `history_ms` of readings, then reports
// live until `duration_ms` has passed (or SIGINT/SIGTERM): telemetry in batched JSON bodies
// (POST /api/v1/telemetry) and heartbeats (POST /api/v1/devices/{id}/heartbeat), with
// dropouts whose missed readings are uploaded late after the reconnect, out-of-range spikes
// and draining batteries. A progress line goes to stderr once per second, the summary to
// stdout (and as JSON to `json_summary`).
//
// The transport sits behind `ReportSink`: HTTP for http:// targets, MQTT (libmosquitto) for
// mqtt:// targets.

#include <cstdint>
#include <string>

namespace fp::sim {

struct SimulateOptions {
  std::string target = "http://127.0.0.1:8080";
  std::string api_key;
  int devices = 100;
  double rate = 0;               // readings per second, whole fleet; 0 = each device every 10 s
  bool max_rate = false;         // as fast as the server answers (load driver)
  int64_t duration_ms = 60'000;  // live phase; 0 = none (history only); < 0 = until a signal
  int64_t history_ms = 0;
  int64_t history_step_ms = 60'000;
  int64_t history_end_ms = 0;  // last backfilled time (epoch ms); 0 = now, aligned to the step
  uint64_t seed = 1;
  int connections = 4;
  int batch = 500;                      // readings per request
  double dropouts_per_hour = 0.5;       // per device
  int64_t dropout_max_ms = 8 * 60'000;  // dropouts last between a quarter of this and this
  double spike_probability = 0.001;     // per reading
  double invalid_probability = 0;       // per reading: sent with a bad timestamp
  int64_t heartbeat_interval_ms = 30'000;
  std::string prefix = "sim";
  bool register_devices = true;
  bool progress = true;
  std::string json_summary;  // file path, or "-" for stdout
};

// Runs the simulation. Returns the process exit code: 0 when every request was answered as
// expected, 1 when some failed (or the server could not be reached), 2 for bad options.
int run_simulation(const SimulateOptions& options);

}  // namespace fp::sim
