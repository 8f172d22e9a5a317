#pragma once
// AuthThrottle: slows down guessing of API keys, device tokens and MQTT passwords, per client
// address. A credential that was presented and refused is a failure; the first few failures
// from an address are answered at once (typos), then each refusal is answered later: after
// `delay`, doubled per further failure up to `max_delay`, and released one at a time per
// address (a parallel burst from one address is answered no faster than a sequential one).
// While an address has `max_pending` refusals waiting, its next attempts are refused at once
// (HTTP 429 / MQTT "server busy") without the credential being checked, which bounds the rate
// of guesses from one address whatever its parallelism. Successes are never delayed, and one
// address's failures do not slow any other address. The failure count of an address is
// forgotten after `forget_after` without failures.
//
// Addresses are grouped: IPv4 by address, IPv6 by /64 (one host usually owns a /64). The table
// holds at most `max_addresses` entries (least recently failing evicted first), so its memory
// is bounded however many addresses an attacker uses. State is in memory only: a restart
// forgets it (a restarted server just throttles from scratch).
//
// Thread safety: all methods may be called from any thread. Delayed answers run on the
// throttle's own timer thread.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <queue>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "metrics/registry.h"

namespace fp {

class AuthThrottle {
 public:
  using Ms = std::chrono::milliseconds;
  struct Options {
    Ms delay{100};  // 0: throttling off (failures are only counted)
    Ms max_delay{10'000};
    int free_failures = 10;  // answered at once before delays start
    int max_pending = 16;    // refusals waiting per address before attempts are refused unseen
    size_t max_addresses = 10'000;
    size_t max_pending_total = 20'000;  // across addresses: beyond, refused unseen
    Ms forget_after{60'000};
  };

  // `failures` (labels {transport}) counts refused credentials; `throttled` (labels
  // {transport, action}: "delayed" or "refused") counts what the throttle did. Both must
  // outlive the throttle.
  AuthThrottle(Options options, metrics::Family<metrics::Counter>& failures,
               metrics::Family<metrics::Counter>& throttled);
  // Calls stop().
  ~AuthThrottle();
  // Answers every delayed refusal at once and stops the timer thread; later run_after calls
  // run at once. Idempotent.
  void stop();
  AuthThrottle(const AuthThrottle&) = delete;
  AuthThrottle& operator=(const AuthThrottle&) = delete;

  // True when attempts from `address` are to be refused now without checking the credential
  // (too many refusals from it are waiting). Counted as "refused".
  bool saturated(std::string_view address, std::string_view transport);

  // Records a refused credential from `address`. Returns how long to wait before answering
  // (0: answer now). After a non-zero wait the caller answers through run_after (HTTP) or its
  // own timer and then calls answered(address).
  Ms failed(std::string_view address, std::string_view transport);
  void answered(std::string_view address);

  // Runs `fn` after `wait` on the timer thread (at once, on this thread, during destruction).
  void run_after(Ms wait, std::function<void()> fn);

  // Addresses tracked now (bounded by max_addresses).
  size_t tracked_addresses() const;

  // The table key of a client address: IPv4 as is, IPv6 by its /64, IPv4-mapped IPv6 as IPv4.
  static std::string address_key(std::string_view address);

 private:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    int failures = 0;
    int pending = 0;
    Clock::time_point last_failure{};
    Clock::time_point next_release{};
    std::list<std::string>::iterator lru;
  };
  struct Timed {
    Clock::time_point at;
    uint64_t seq;
    std::function<void()> fn;
    bool operator>(const Timed& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };

  Entry& entry_locked(const std::string& key, Clock::time_point now);
  void timer_loop();

  const Options options_;
  metrics::Family<metrics::Counter>& failures_;
  metrics::Family<metrics::Counter>& throttled_;

  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> table_;  // guarded by mu_
  std::list<std::string> lru_;                    // most recent failure first; guarded by mu_
  size_t pending_total_ = 0;                      // guarded by mu_

  std::mutex timer_mu_;
  std::condition_variable timer_cv_;
  std::priority_queue<Timed, std::vector<Timed>, std::greater<>> timers_;  // guarded by timer_mu_
  uint64_t timer_seq_ = 0;                                                 // guarded by timer_mu_
  bool stopping_ = false;                                                  // guarded by timer_mu_
  std::thread timer_thread_;
};

}  // namespace fp
