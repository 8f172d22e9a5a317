#pragma once
// RunStats: what a simulation sent and what the server answered, shared between the producer
// thread and the HTTP workers, and the closing summary (text for people, JSON for tests).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace fp::sim {

struct RunStats {
  // Producer side (one thread).
  uint64_t readings_sent = 0;
  uint64_t points_sent = 0;
  uint64_t history_readings = 0;
  uint64_t history_points = 0;
  uint64_t late_readings = 0;  // buffered during a dropout, uploaded after reconnecting
  uint64_t dropouts = 0;
  uint64_t spikes = 0;            // out-of-range values sent on purpose
  uint64_t invalid_injected = 0;  // readings the server must reject (bad timestamp)
  uint64_t heartbeats_sent = 0;
  uint64_t batteries_died = 0;
  std::map<std::string, uint64_t, std::less<>> points_by_metric;  // valid points sent
  std::map<std::string, uint64_t, std::less<>> devices_by_type;

  // Worker side (answers).
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> requests_failed{0};  // no answer, or an unexpected status
  std::atomic<uint64_t> readings_accepted{0};
  std::atomic<uint64_t> points_accepted{0};
  std::atomic<uint64_t> readings_rejected{0};
  std::atomic<uint64_t> points_rejected{0};
  std::atomic<uint64_t> heartbeats_accepted{0};
  std::atomic<uint64_t> devices_registered{0};  // 201, or 409 for one that already existed

  void record_latency(std::chrono::nanoseconds d);
  // The q-quantile (0..1) of request latencies so far, in milliseconds; 0 without requests.
  double latency_ms(double q) const;

  mutable std::mutex latency_mu;
  std::vector<float> latencies_ms;  // guarded by latency_mu
};

struct SummaryContext {
  uint64_t seed = 0;
  int devices = 0;
  double total_seconds = 0;    // the whole run, registration included
  double history_seconds = 0;  // sending the backfill, until every answer came
  double live_seconds = 0;     // the live phase, until every answer came
  std::string first_error;     // the first transport error or unexpected answer, if any
};

// Points per second of the phase that sent most: the live phase when there was one, else
// the backfill. Registration is not counted.
double points_per_second(const RunStats& s, const SummaryContext& c);

std::string format_summary_text(const RunStats& s, const SummaryContext& c);
std::string format_summary_json(const RunStats& s, const SummaryContext& c);
// One line for the live progress display (no line ending).
std::string format_progress(const RunStats& s, double elapsed_s, double points_per_s,
                            size_t in_flight, int offline_devices);

}  // namespace fp::sim
