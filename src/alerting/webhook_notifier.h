#pragma once
// WebhookNotifier: delivers alert changes to the webhooks of their rule, off the hot path.
// Each (alert change, URL) is one delivery: POSTed by the notifier's thread, retried with
// exponential backoff (backoff, 2x backoff, 4x ... capped at max_backoff) until it succeeds
// or max_attempts have failed; then it is stored as a dead letter, listed by the API and
// retried on request.
//
// Thread safety: notify() and retry_dead_letter() may be called from any thread; notify()
// never blocks (a full queue drops the delivery and counts it).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <queue>
#include <string>
#include <thread>
#include <vector>

#include "alerting/alert_engine.h"
#include "alerting/webhook_client.h"
#include "storage/catalog/catalog.h"
#include "util/clock.h"

namespace fp {

struct NotifierOptions {
  int max_attempts = 5;
  std::chrono::milliseconds backoff{1000};
  std::chrono::milliseconds max_backoff{60'000};
  std::chrono::milliseconds timeout{5000};  // per attempt
  size_t max_pending = 10'000;
};

struct NotifierStats {
  uint64_t delivered = 0;
  uint64_t failed_attempts = 0;
  uint64_t dead_lettered = 0;
  uint64_t dropped = 0;  // queue full
  uint64_t pending = 0;
};

class WebhookNotifier {
 public:
  using PostFn = std::function<PostResult(std::string_view url, std::string_view body,
                                          std::chrono::milliseconds timeout)>;

  // `catalog` and `clock` must outlive the notifier. `post` is the HTTP client (post_json).
  WebhookNotifier(Catalog& catalog, const Clock& clock, NotifierOptions options,
                  PostFn post = post_json);
  ~WebhookNotifier();

  void start();
  // Stops the thread; deliveries still queued are dropped (they are not durable).
  void stop();

  // Queues one delivery per webhook of the change's rule.
  void notify(const AlertChange& change);
  // Moves a dead letter back to the queue (removing it from the list). kNotFound if unknown.
  Status retry_dead_letter(int64_t id);

  NotifierStats stats() const;

  // The JSON body sent for a change: {"event":"alert.firing"|..., "rule":{...}|null, "alert":{...}}
  static std::string payload(const AlertChange& change);

 private:
  struct Delivery {
    std::chrono::steady_clock::time_point due;
    int64_t alert_id = 0;
    std::string rule_id;
    std::string url;
    std::string payload;
    int attempts = 0;
    int64_t first_attempt_ms = 0;
    uint64_t seq = 0;  // enqueue order: deliveries due at the same instant go out in order
    bool operator>(const Delivery& o) const { return due != o.due ? due > o.due : seq > o.seq; }
  };

  void enqueue(Delivery d);
  void run();
  void attempt(Delivery d);  // notifier thread

  Catalog& catalog_;
  const Clock& clock_;
  const NotifierOptions options_;
  const PostFn post_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<Delivery, std::vector<Delivery>, std::greater<>> queue_;  // guarded by mu_
  bool stopping_ = false;                                                       // guarded by mu_
  uint64_t next_seq_ = 0;                                                       // guarded by mu_
  std::thread thread_;
  std::atomic<uint64_t> delivered_{0}, failed_attempts_{0}, dead_lettered_{0}, dropped_{0};
};

}  // namespace fp
