#include "auth/auth_throttle.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>

namespace fp {

AuthThrottle::AuthThrottle(Options options, metrics::Family<metrics::Counter>& failures,
                           metrics::Family<metrics::Counter>& throttled)
    : options_(options), failures_(failures), throttled_(throttled) {
  timer_thread_ = std::thread([this] { timer_loop(); });
}

AuthThrottle::~AuthThrottle() {
  stop();
}

void AuthThrottle::stop() {
  {
    std::lock_guard lock(timer_mu_);
    stopping_ = true;
  }
  timer_cv_.notify_all();
  if (timer_thread_.joinable()) timer_thread_.join();
}

std::string AuthThrottle::address_key(std::string_view address) {
  std::string text(address);
  unsigned char b[16];
  if (inet_pton(AF_INET, text.c_str(), b) == 1) return text;
  if (inet_pton(AF_INET6, text.c_str(), b) != 1) return text;  // not an address: as given
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  char out[64];
  if (std::equal(kMapped, kMapped + 12, b)) {
    std::snprintf(out, sizeof out, "%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
    return out;
  }
  std::snprintf(out, sizeof out, "%02x%02x:%02x%02x:%02x%02x:%02x%02x::/64", b[0], b[1], b[2], b[3],
                b[4], b[5], b[6], b[7]);
  return out;
}

AuthThrottle::Entry& AuthThrottle::entry_locked(const std::string& key, Clock::time_point now) {
  auto it = table_.find(key);
  if (it == table_.end()) {
    while (table_.size() >= options_.max_addresses && !lru_.empty()) {
      auto victim = table_.find(lru_.back());
      pending_total_ -= static_cast<size_t>(victim->second.pending);
      table_.erase(victim);
      lru_.pop_back();
    }
    lru_.push_front(key);
    it = table_.emplace(key, Entry{}).first;
    it->second.lru = lru_.begin();
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  Entry& e = it->second;
  if (e.failures > 0 && now - e.last_failure > options_.forget_after) e.failures = 0;
  return e;
}

bool AuthThrottle::saturated(std::string_view address, std::string_view transport) {
  if (options_.delay.count() == 0) return false;
  const std::string key = address_key(address);
  std::lock_guard lock(mu_);
  auto it = table_.find(key);
  const bool full = pending_total_ >= options_.max_pending_total ||
                    (it != table_.end() && it->second.pending >= options_.max_pending);
  if (full) throttled_.with({std::string(transport), "refused"}).inc();
  return full;
}

AuthThrottle::Ms AuthThrottle::failed(std::string_view address, std::string_view transport) {
  failures_.with({std::string(transport)}).inc();
  if (options_.delay.count() == 0) return Ms{0};
  const std::string key = address_key(address);
  const auto now = Clock::now();
  Ms wait{0};
  {
    std::lock_guard lock(mu_);
    Entry& e = entry_locked(key, now);
    ++e.failures;
    e.last_failure = now;
    if (e.failures <= options_.free_failures) return Ms{0};
    const int doublings = std::min(e.failures - options_.free_failures - 1, 30);
    Ms delay = options_.delay * (int64_t{1} << doublings);
    if (delay > options_.max_delay || delay.count() <= 0) delay = options_.max_delay;
    // One at a time per address: this refusal goes out `delay` after the previous one.
    const auto release = std::max(now, e.next_release) + delay;
    e.next_release = release;
    ++e.pending;
    ++pending_total_;
    wait = std::chrono::duration_cast<Ms>(release - now);
  }
  throttled_.with({std::string(transport), "delayed"}).inc();
  return wait;
}

void AuthThrottle::answered(std::string_view address) {
  const std::string key = address_key(address);
  std::lock_guard lock(mu_);
  auto it = table_.find(key);
  if (it == table_.end() || it->second.pending == 0) return;  // evicted meanwhile
  --it->second.pending;
  --pending_total_;
}

void AuthThrottle::run_after(Ms wait, std::function<void()> fn) {
  {
    std::lock_guard lock(timer_mu_);
    if (!stopping_) {
      timers_.push({Clock::now() + wait, timer_seq_++, std::move(fn)});
      timer_cv_.notify_all();
      return;
    }
  }
  fn();
}

size_t AuthThrottle::tracked_addresses() const {
  std::lock_guard lock(mu_);
  return table_.size();
}

void AuthThrottle::timer_loop() {
  std::unique_lock lock(timer_mu_);
  for (;;) {
    if (stopping_) break;
    if (timers_.empty()) {
      timer_cv_.wait(lock);
      continue;
    }
    const auto at = timers_.top().at;
    if (Clock::now() < at) {
      timer_cv_.wait_until(lock, at);
      continue;
    }
    auto fn = std::move(const_cast<Timed&>(timers_.top()).fn);
    timers_.pop();
    lock.unlock();
    fn();
    lock.lock();
  }
  // Stopping: whatever waits is answered now.
  while (!timers_.empty()) {
    auto fn = std::move(const_cast<Timed&>(timers_.top()).fn);
    timers_.pop();
    lock.unlock();
    fn();
    lock.lock();
  }
}

}  // namespace fp
