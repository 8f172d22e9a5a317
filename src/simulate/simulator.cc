#include "simulate/simulator.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "simulate/http_report_sink.h"
#include "simulate/mqtt_report_sink.h"

namespace fp::sim {
namespace {

using SteadyClock = std::chrono::steady_clock;

int64_t wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double seconds_since(SteadyClock::time_point t) {
  return std::chrono::duration<double>(SteadyClock::now() - t).count();
}

// True once SIGINT or SIGTERM arrived (main blocks both; we poll without waiting).
bool stop_requested() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  timespec zero{0, 0};
  static bool stopped = false;
  if (!stopped && sigtimedwait(&set, nullptr, &zero) > 0) stopped = true;
  return stopped;
}

// A device's connection state during the live phase.
struct DeviceLink {
  int64_t offline_until_ms = 0;      // in a dropout until then
  std::vector<SimReading> buffered;  // readings taken while disconnected
  int64_t last_heartbeat_ms = 0;
  bool dead = false;  // battery empty: reports nothing any more
};

constexpr size_t kMaxBufferedPerDevice = 2'000;

class Simulation {
 public:
  Simulation(const SimulateOptions& o, ReportSink& sink, RunStats& stats)
      : o_(o), sink_(sink), stats_(stats), rng_(o.seed) {
    fleet_ = make_fleet(o.devices, o.prefix, rng_);
    links_.resize(fleet_.size());
    for (const auto& d : fleet_) ++stats_.devices_by_type[std::string(to_string(d.kind))];
  }

  void register_all() {
    for (const auto& d : fleet_) sink_.register_device(d);
    sink_.drain();
  }

  // Every device reports every history_step_ms over the last history_ms, oldest first.
  void backfill_history() {
    const int64_t step = std::max<int64_t>(o_.history_step_ms, 1);
    const int64_t end = o_.history_end_ms > 0 ? o_.history_end_ms : wall_now_ms() / step * step;
    for (int64_t ts = end - o_.history_ms / step * step + step; ts <= end && !stop_requested();
         ts += step) {
      for (size_t i = 0; i < fleet_.size(); ++i) {
        if (links_[i].dead) continue;
        SimReading r = sample(fleet_[i], ts, o_.spike_probability, rng_);
        ++stats_.history_readings;
        stats_.history_points += r.values.size();
        add_reading(i, std::move(r));
        if (fleet_[i].battery_powered && fleet_[i].battery <= 0) bury(i);
      }
      show_progress(false);
    }
    flush();
  }

  void run_live() {
    const double rate = o_.rate > 0 ? o_.rate : static_cast<double>(fleet_.size()) / 10.0;
    const auto start = SteadyClock::now();
    uint64_t seq = 0;
    auto last_flush = start;
    while (!stop_requested()) {
      const double elapsed = seconds_since(start);
      if (o_.duration_ms >= 0 && elapsed * 1000 >= static_cast<double>(o_.duration_ms)) break;
      const uint64_t due = o_.max_rate ? seq + static_cast<uint64_t>(o_.batch)
                                       : static_cast<uint64_t>(rate * elapsed);
      while (seq < due && pending_.size() < static_cast<size_t>(o_.batch)) {
        live_step(static_cast<size_t>(seq % fleet_.size()));
        ++seq;
      }
      const bool full = pending_.size() >= static_cast<size_t>(o_.batch);
      if (full || (SteadyClock::now() - last_flush > std::chrono::milliseconds(100))) {
        flush();
        last_flush = SteadyClock::now();
      }
      show_progress(false);
      if (!o_.max_rate && seq >= due) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    // Devices still disconnected come back at the end and upload what they buffered.
    for (size_t i = 0; i < fleet_.size(); ++i) upload_buffered(i);
    flush();
  }

  void finish() {
    flush();
    sink_.drain();
    show_progress(true);
  }

  // Adds the per-metric counts of valid points sent to the summary.
  void publish_metric_counts() {
    for (const auto& [metric, n] : metric_counts_)
      stats_.points_by_metric[std::string(metric)] += n;
  }

 private:
  void live_step(size_t i) {
    DeviceLink& link = links_[i];
    SimDevice& d = fleet_[i];
    if (link.dead) return;
    const int64_t now = std::max(wall_now_ms(), d.last_sample_ms + 1);
    const int64_t since_last = d.last_sample_ms ? now - d.last_sample_ms : 0;
    SimReading r = sample(d, now, o_.spike_probability, rng_);
    if (d.battery_powered && d.battery <= 0) {
      bury(i);
      return;
    }
    if (link.offline_until_ms > now) {  // still disconnected: keep it for later
      if (link.buffered.size() < kMaxBufferedPerDevice) link.buffered.push_back(std::move(r));
      return;
    }
    if (link.offline_until_ms != 0) {  // just reconnected
      link.offline_until_ms = 0;
      --in_dropout_;
      upload_buffered(i);
    }
    if (starts_dropout(since_last)) {
      link.offline_until_ms =
          now + std::uniform_int_distribution<int64_t>(
                    o_.dropout_max_ms / 4, std::max<int64_t>(o_.dropout_max_ms, 1))(rng_);
      ++stats_.dropouts;
      ++in_dropout_;
      link.buffered.push_back(std::move(r));
      return;
    }
    add_reading(i, std::move(r));
    if (now - link.last_heartbeat_ms >= o_.heartbeat_interval_ms) {
      link.last_heartbeat_ms = now;
      HeartbeatMessage hb;
      hb.device_id = d.id;
      hb.battery_level = d.battery_powered ? std::round(d.battery * 10) / 10 : -1;
      hb.signal_strength = std::round(d.signal);
      hb.has_geo = d.kind == DeviceKind::kVehicle;
      hb.lat = d.lat;
      hb.lon = d.lon;
      hb.ts_ms = wall_now_ms();
      sink_.send_heartbeat(hb);
      ++stats_.heartbeats_sent;
    }
  }

  // A dropout starts between two samples `dt_ms` apart with the probability that gives
  // `dropouts_per_hour` per device, whatever the sampling rate.
  bool starts_dropout(int64_t dt_ms) {
    if (o_.dropouts_per_hour <= 0 || o_.dropout_max_ms <= 0 || dt_ms <= 0) return false;
    const double p = 1 - std::exp(-o_.dropouts_per_hour * static_cast<double>(dt_ms) / 3.6e6);
    return std::uniform_real_distribution<double>(0, 1)(rng_) < p;
  }

  void upload_buffered(size_t i) {
    DeviceLink& link = links_[i];
    for (auto& r : link.buffered) {
      add_reading(i, std::move(r));
      ++stats_.late_readings;
    }
    link.buffered.clear();
  }

  void bury(size_t i) {
    links_[i].dead = true;
    ++stats_.batteries_died;
  }

  void add_reading(size_t i, SimReading r) {
    OutgoingReading out;
    out.device = &fleet_[i];
    out.invalid = o_.invalid_probability > 0 &&
                  std::uniform_real_distribution<double>(0, 1)(rng_) < o_.invalid_probability;
    ++stats_.readings_sent;
    stats_.points_sent += r.values.size();
    if (r.spiked) ++stats_.spikes;
    if (out.invalid) {
      ++stats_.invalid_injected;
    } else {
      for (const auto& [metric, value] : r.values) ++metric_counts_[metric];
    }
    out.reading = std::move(r);
    pending_.push_back(std::move(out));
    if (pending_.size() >= static_cast<size_t>(o_.batch)) flush();
  }

  void flush() {
    if (pending_.empty()) return;
    sink_.send_readings(std::move(pending_));
    pending_.clear();
    pending_.reserve(static_cast<size_t>(o_.batch));
  }

  void show_progress(bool final_line) {
    if (!o_.progress) return;
    const auto now = SteadyClock::now();
    if (!final_line && now - last_progress_ < std::chrono::seconds(1)) return;
    const double dt = std::chrono::duration<double>(now - last_progress_).count();
    const double pps = dt > 0 ? static_cast<double>(stats_.points_sent - last_points_) / dt : 0;
    last_progress_ = now;
    last_points_ = stats_.points_sent;
    static const bool tty = isatty(STDERR_FILENO);
    std::string line =
        format_progress(stats_, seconds_since(begin_), pps, sink_.in_flight(), in_dropout_);
    std::fprintf(stderr, tty ? "\r\033[K%s%s" : "%s%s", line.c_str(),
                 tty && !final_line ? "" : "\n");
    std::fflush(stderr);
  }

  const SimulateOptions& o_;
  ReportSink& sink_;
  RunStats& stats_;
  Rng rng_;
  std::vector<SimDevice> fleet_;
  std::vector<DeviceLink> links_;
  std::vector<OutgoingReading> pending_;
  std::map<std::string_view, uint64_t> metric_counts_;
  int in_dropout_ = 0;
  const SteadyClock::time_point begin_ = SteadyClock::now();
  SteadyClock::time_point last_progress_ = begin_;
  uint64_t last_points_ = 0;
};

std::string validate(const SimulateOptions& o) {
  if (o.devices < 1 || o.devices > 10'000'000) return "--devices must be 1..10000000";
  if (o.rate < 0) return "--rate must be positive, or max";
  if (o.connections < 1 || o.connections > 256) return "--connections must be 1..256";
  if (o.batch < 1 || o.batch > 100'000) return "--batch must be 1..100000";
  if (o.history_ms < 0) return "--history must not be negative";
  if (o.history_ms > 0 && o.history_step_ms < 1000) return "--history-step must be at least 1s";
  if (o.spike_probability < 0 || o.spike_probability > 1) return "--spikes must be 0..1";
  if (o.invalid_probability < 0 || o.invalid_probability > 1) return "--invalid must be 0..1";
  if (o.dropouts_per_hour < 0) return "--dropouts must not be negative";
  return "";
}

}  // namespace

int run_simulation(const SimulateOptions& o) {
  if (auto e = validate(o); !e.empty()) {
    std::fprintf(stderr, "simulate: %s\n", e.c_str());
    return 2;
  }
  RunStats stats;
  std::unique_ptr<ReportSink> sink_owner;
  if (o.target.starts_with("mqtt://")) {
    auto target = parse_mqtt_target(o.target);
    if (!target.ok()) {
      std::fprintf(stderr, "simulate: %s\n", target.status().message().c_str());
      return 2;
    }
    auto sink = MqttReportSink::connect(*target, stats, o.connections * 64);
    if (!sink.ok()) {
      std::fprintf(stderr, "simulate: cannot reach %s: %s\n", o.target.c_str(),
                   sink.status().message().c_str());
      return 1;
    }
    sink_owner = std::move(sink).value();
  } else {
    auto target = parse_http_target(o.target);
    if (!target.ok()) {
      std::fprintf(stderr, "simulate: %s\n", target.status().message().c_str());
      return 2;
    }
    sink_owner = std::make_unique<HttpReportSink>(*target, o.api_key, o.connections, stats);
  }
  const auto begin = SteadyClock::now();
  std::string first_error;
  double history_seconds = 0, live_seconds = 0;
  {
    ReportSink& sink = *sink_owner;
    Simulation sim(o, sink, stats);
    if (o.register_devices) {
      sim.register_all();
      if (stats.devices_registered.load() == 0 && stats.requests_failed.load() > 0) {
        std::fprintf(stderr, "simulate: cannot register devices at %s: %s\n", o.target.c_str(),
                     sink.first_error().c_str());
        return 1;
      }
    }
    if (o.history_ms > 0) {
      const auto t = SteadyClock::now();
      sim.backfill_history();
      sink.drain();
      history_seconds = seconds_since(t);
    }
    if (o.duration_ms != 0) {
      const auto t = SteadyClock::now();
      sim.run_live();
      sink.drain();
      live_seconds = seconds_since(t);
    }
    sim.finish();
    sim.publish_metric_counts();
    first_error = sink.first_error();
    sink_owner.reset();  // disconnects, stops the workers
  }
  SummaryContext ctx;
  ctx.seed = o.seed;
  ctx.devices = o.devices;
  ctx.first_error = first_error;
  ctx.total_seconds = seconds_since(begin);
  ctx.history_seconds = history_seconds;
  ctx.live_seconds = live_seconds;
  std::fputs(format_summary_text(stats, ctx).c_str(), stdout);
  if (!o.json_summary.empty()) {
    const std::string json = format_summary_json(stats, ctx) + "\n";
    if (o.json_summary == "-") {
      std::fputs(json.c_str(), stdout);
    } else {
      std::ofstream f(o.json_summary, std::ios::binary | std::ios::trunc);
      f << json;
      if (!f) {
        std::fprintf(stderr, "simulate: cannot write %s\n", o.json_summary.c_str());
        return 1;
      }
    }
  }
  std::fflush(stdout);
  return stats.requests_failed.load() == 0 ? 0 : 1;
}

}  // namespace fp::sim
