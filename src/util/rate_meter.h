#pragma once
// RateMeter: events per second over a sliding window of whole seconds, lock-free.
// record() is cheap enough for hot paths; rate() averages the last `kWindow` full seconds.

#include <array>
#include <atomic>
#include <cstdint>

namespace fp {

class RateMeter {
 public:
  static constexpr int kWindow = 10;

  void record(int64_t now_ms, uint64_t n = 1) {
    const int64_t sec = now_ms / 1000;
    Slot& s = slots_[static_cast<size_t>(sec % kSlots)];
    if (s.second.load(std::memory_order_relaxed) != sec) {
      s.count.store(0, std::memory_order_relaxed);
      s.second.store(sec, std::memory_order_relaxed);
    }
    s.count.fetch_add(n, std::memory_order_relaxed);
  }

  double rate(int64_t now_ms) const {
    const int64_t sec = now_ms / 1000;
    uint64_t total = 0;
    for (int64_t k = sec - kWindow; k < sec; ++k) {
      const Slot& s = slots_[static_cast<size_t>(((k % kSlots) + kSlots) % kSlots)];
      if (s.second.load(std::memory_order_relaxed) == k)
        total += s.count.load(std::memory_order_relaxed);
    }
    return static_cast<double>(total) / kWindow;
  }

 private:
  static constexpr int64_t kSlots = kWindow + 2;
  struct Slot {
    std::atomic<int64_t> second{-1};
    std::atomic<uint64_t> count{0};
  };
  std::array<Slot, kSlots> slots_;
};

}  // namespace fp
