#pragma once
// FleetHistorySampler: a thread that measures the fleet every `interval_ms` (and once at
// start) and appends the sample to a FleetHistory. A failed append is logged and retried at
// the next tick; it never stops the server.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "fleet_history/fleet_history.h"
#include "util/clock.h"

namespace fp {

class FleetHistorySampler {
 public:
  // Called on the sampler's thread; fills everything but ts_ms.
  using Measure = std::function<FleetSample(int64_t now_ms)>;

  // `history` and `clock` must outlive the sampler.
  FleetHistorySampler(FleetHistory& history, const Clock& clock, int64_t interval_ms,
                      Measure measure);
  ~FleetHistorySampler();  // stops

  void start();
  void stop();  // joins; idempotent

 private:
  void run();

  FleetHistory& history_;
  const Clock& clock_;
  const int64_t interval_ms_;
  const Measure measure_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // protected by mu_
  std::thread thread_;
};

}  // namespace fp
