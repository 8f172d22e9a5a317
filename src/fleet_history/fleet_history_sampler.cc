#include "fleet_history/fleet_history_sampler.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace fp {

FleetHistorySampler::FleetHistorySampler(FleetHistory& history, const Clock& clock,
                                         int64_t interval_ms, Measure measure)
    : history_(history), clock_(clock), interval_ms_(interval_ms), measure_(std::move(measure)) {}

FleetHistorySampler::~FleetHistorySampler() {
  stop();
}

void FleetHistorySampler::start() {
  thread_ = std::thread([this] { run(); });
}

void FleetHistorySampler::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void FleetHistorySampler::run() {
  auto next = std::chrono::steady_clock::now();
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    const int64_t now = clock_.now_ms();
    FleetSample s = measure_(now);
    s.ts_ms = now;
    if (Status st = history_.append(s); !st.ok())
      spdlog::error("event=fleet_history_append_failed reason=\"{}\"", st.message());
    lock.lock();
    next += std::chrono::milliseconds(interval_ms_);
    cv_.wait_until(lock, next, [this] { return stopping_; });
  }
}

}  // namespace fp
