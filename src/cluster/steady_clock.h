#pragma once
// SteadyClock: a monotonic fp::Clock for lease deadlines. Wall time may jump (NTP, an
// operator); a lease deadline must not, so every lease computation reads this clock.

#include <chrono>

#include "util/clock.h"

namespace fp::cluster {

class SteadyClock final : public Clock {
 public:
  // Milliseconds since an arbitrary fixed point (not the Unix epoch); never goes backwards.
  int64_t now_ms() const override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
  }
};

}  // namespace fp::cluster
