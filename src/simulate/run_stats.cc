#include "simulate/run_stats.h"

#include <fmt/format.h>

#include <algorithm>

#include "util/json_writer.h"

namespace fp::sim {

void RunStats::record_latency(std::chrono::nanoseconds d) {
  const float ms = static_cast<float>(std::chrono::duration<double, std::milli>(d).count());
  std::lock_guard lock(latency_mu);
  latencies_ms.push_back(ms);
}

double RunStats::latency_ms(double q) const {
  std::vector<float> copy;
  {
    std::lock_guard lock(latency_mu);
    copy = latencies_ms;
  }
  if (copy.empty()) return 0;
  const size_t k =
      std::min(copy.size() - 1, static_cast<size_t>(q * static_cast<double>(copy.size())));
  std::nth_element(copy.begin(), copy.begin() + static_cast<std::ptrdiff_t>(k), copy.end());
  return copy[k];
}

std::string format_progress(const RunStats& s, double elapsed_s, double points_per_s,
                            size_t in_flight, int offline_devices) {
  return fmt::format(
      "[{:6.1f}s] readings {} points {} acked {} rejected {} | {:.0f} points/s | in flight {} | "
      "devices in dropout {} | p50 {:.1f} ms p99 {:.1f} ms",
      elapsed_s, s.readings_sent, s.points_sent, s.points_accepted.load(), s.points_rejected.load(),
      points_per_s, in_flight, offline_devices, s.latency_ms(0.5), s.latency_ms(0.99));
}

double points_per_second(const RunStats& s, const SummaryContext& c) {
  if (c.live_seconds > 0)
    return static_cast<double>(s.points_sent - s.history_points) / c.live_seconds;
  if (c.history_seconds > 0) return static_cast<double>(s.history_points) / c.history_seconds;
  return 0;
}

std::string format_summary_text(const RunStats& s, const SummaryContext& c) {
  const double rate = points_per_second(s, c);
  std::string out = fmt::format(
      "simulated {} devices (seed {}) for {:.1f} s\n"
      "  sent:         {} readings ({} points; {} from history, {} late after dropouts)\n"
      "  acknowledged: {} readings ({} points)\n"
      "  rejected:     {} readings ({} points; {} invalid sent on purpose)\n"
      "  heartbeats:   {} sent, {} acknowledged\n"
      "  faults:       {} dropouts, {} out-of-range spikes, {} batteries died\n"
      "  requests:     {} ({} failed)\n"
      "  rate:         {:.0f} points/s ({})\n"
      "  latency:      p50 {:.2f} ms, p99 {:.2f} ms\n",
      c.devices, c.seed, c.total_seconds, s.readings_sent, s.points_sent, s.history_readings,
      s.late_readings, s.readings_accepted.load(), s.points_accepted.load(),
      s.readings_rejected.load(), s.points_rejected.load(), s.invalid_injected, s.heartbeats_sent,
      s.heartbeats_accepted.load(), s.dropouts, s.spikes, s.batteries_died, s.requests.load(),
      s.requests_failed.load(), rate, c.live_seconds > 0 ? "live phase" : "backfill",
      s.latency_ms(0.5), s.latency_ms(0.99));
  if (!c.first_error.empty()) out += "  first error:  " + c.first_error + "\n";
  return out;
}

std::string format_summary_json(const RunStats& s, const SummaryContext& c) {
  JsonWriter w;
  w.begin_object();
  w.field("seed", c.seed).field("devices", c.devices).field("seconds", c.total_seconds);
  w.field("history_seconds", c.history_seconds).field("live_seconds", c.live_seconds);
  w.field("readings_sent", s.readings_sent).field("points_sent", s.points_sent);
  w.field("history_readings", s.history_readings).field("late_readings", s.late_readings);
  w.field("readings_accepted", s.readings_accepted.load());
  w.field("points_accepted", s.points_accepted.load());
  w.field("readings_rejected", s.readings_rejected.load());
  w.field("points_rejected", s.points_rejected.load());
  w.field("invalid_injected", s.invalid_injected);
  w.field("heartbeats_sent", s.heartbeats_sent);
  w.field("heartbeats_accepted", s.heartbeats_accepted.load());
  w.field("devices_registered", s.devices_registered.load());
  w.field("dropouts", s.dropouts).field("spikes", s.spikes);
  w.field("batteries_died", s.batteries_died);
  w.field("requests", s.requests.load()).field("requests_failed", s.requests_failed.load());
  w.field("points_per_s", points_per_second(s, c));
  w.key("latency_ms").begin_object();
  w.field("p50", s.latency_ms(0.5)).field("p99", s.latency_ms(0.99));
  w.field("max", s.latency_ms(1.0));
  w.end_object();
  w.key("points_by_metric").begin_object();
  for (const auto& [k, v] : s.points_by_metric) w.field(k, v);
  w.end_object();
  w.key("devices_by_type").begin_object();
  for (const auto& [k, v] : s.devices_by_type) w.field(k, v);
  w.end_object();
  if (!c.first_error.empty()) w.field("first_error", c.first_error);
  w.end_object();
  return w.take();
}

}  // namespace fp::sim
