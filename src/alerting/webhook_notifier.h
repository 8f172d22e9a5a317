#pragma once
// WebhookNotifier: delivers alert changes to the webhooks of their rule, off the hot path.
// Each (alert change, URL) is one delivery: POSTed by the notifier's thread, retried with
// exponential backoff (backoff, 2x backoff, 4x ... capped at max_backoff) until it succeeds
// or max_attempts have failed; then it is stored as a dead letter, listed by the API and
// retried on request.
//
// Durability: deliveries are rows of the catalog's webhook_queue. As the AlertEngine's
// outbox, plan() gives the rows of a change, which the engine stores in the same transaction
// as the change, then hands over with queued(). Each failed attempt is stored before the next
// one is scheduled; a delivered row is deleted after the receiver's 2xx, so a crash between
// the two delivers it again (at least once). restore() resumes every stored row at start.
// Memory holds at most max_pending deliveries; rows beyond wait in the catalog and are loaded
// when the queue has drained.
//
// Thread safety: notify(), queued() and retry_dead_letter() may be called from any thread and
// never wait for a delivery.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <queue>
#include <string>
#include <thread>
#include <unordered_set>
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
  size_t max_pending = 10'000;              // deliveries held in memory
};

struct NotifierStats {
  uint64_t delivered = 0;
  uint64_t failed_attempts = 0;
  uint64_t dead_lettered = 0;
  uint64_t dropped = 0;  // queue full and not stored (the catalog write had failed)
  uint64_t pending = 0;  // in memory
};

class WebhookNotifier final : public AlertOutbox {
 public:
  using PostFn = std::function<PostResult(std::string_view url, std::string_view body,
                                          std::chrono::milliseconds timeout)>;

  // `catalog` and `clock` must outlive the notifier. `post` is the HTTP client (post_json).
  WebhookNotifier(Catalog& catalog, const Clock& clock, NotifierOptions options,
                  PostFn post = post_json);
  ~WebhookNotifier() override;

  // Loads the stored queue (call once, before start()): each delivery is due when its stored
  // next attempt time says, or at once if that has passed.
  Status restore();
  void start();
  // Stops the thread; what is still queued stays in the catalog for the next start.
  void stop();

  // AlertOutbox: the deliveries of a change (one per webhook of its rule), not yet stored;
  // and the stored ones to attempt (a delivery with id 0 could not be stored: memory only).
  std::vector<WebhookDelivery> plan(const AlertChange& change) override;
  void queued(std::vector<WebhookDelivery> deliveries) override;

  // Stores and queues one delivery per webhook of the change's rule (changes that do not come
  // through the engine's outbox).
  void notify(const AlertChange& change);
  // Moves a dead letter back to the queue (removing it from the list). kNotFound if unknown.
  Status retry_dead_letter(int64_t id);

  NotifierStats stats() const;

  // The JSON body sent for a change: {"event":"alert.firing"|..., "rule":{...}|null, "alert":{...}}
  static std::string payload(const AlertChange& change);

 private:
  struct Delivery {
    std::chrono::steady_clock::time_point due;
    WebhookDelivery row;
    uint64_t seq = 0;  // enqueue order: deliveries due at the same instant go out in order
    bool operator>(const Delivery& o) const { return due != o.due ? due > o.due : seq > o.seq; }
  };

  // Adds stored (or memory-only) deliveries to the memory queue; when it is full, a stored
  // one waits in the catalog (backlog), a memory-only one is dropped and counted.
  void enqueue(std::vector<WebhookDelivery> rows);
  void enqueue_locked(WebhookDelivery row);  // mu_ held
  void load_backlog();                       // notifier thread, memory queue empty
  void run();
  void attempt(Delivery d);  // notifier thread
  std::chrono::steady_clock::time_point due_at(int64_t wall_ms) const;

  Catalog& catalog_;
  const Clock& clock_;
  const NotifierOptions options_;
  const PostFn post_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<Delivery, std::vector<Delivery>, std::greater<>> queue_;  // guarded by mu_
  std::unordered_set<int64_t> held_;  // ids of stored rows in memory or in flight; mu_
  bool backlog_ = false;              // stored rows are waiting outside memory; mu_
  bool stopping_ = false;             // guarded by mu_
  uint64_t next_seq_ = 0;             // guarded by mu_
  std::thread thread_;
  std::atomic<uint64_t> delivered_{0}, failed_attempts_{0}, dead_lettered_{0}, dropped_{0};
};

}  // namespace fp
