#pragma once
// DiskWorkQueue: keeps the disk off the HTTP network threads. The dispatcher hands it every
// request whose route needs the disk (needs_disk()): ingest routes, which answer
// asynchronously from the Ingestor's group commit, run inline; routes whose handlers wait for
// a catalog write run on this queue's worker threads. Either way the request is admitted only
// while the disk keeps up: with too many disk requests in flight, or the oldest of them (or
// the oldest queued catalog write) older than `shed_after_ms`, it is answered at once with
// 503 and `Retry-After`, long before a client's timeout; an admitted request the disk has not
// finished within `answer_within_ms` is answered 503 then (it was not acknowledged). Requests that
// do not need the disk (health, reads) never pass here, so they answer at once whatever the disk
// does.
//
// Thread safety: every method may be called from any thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/router.h"

namespace fp::http {

struct DiskWorkOptions {
  int threads = 8;                // worker threads for handlers that wait for a catalog write
  size_t max_in_flight = 512;     // disk-needing requests admitted at once; beyond: 503
  int64_t shed_after_ms = 2'000;  // oldest disk request or catalog write older: 503
  int retry_after_s = 2;          // the Retry-After of a shed request
  // An admitted request not answered by then is answered 503 (not acknowledged: the write
  // may still commit), so clients with the usual 10 s timeouts get an answer.
  int64_t answer_within_ms = 8'000;
  // Age of the oldest write waiting in the catalog's write queue (0: none); may be empty.
  std::function<int64_t()> catalog_backlog_ms;
};

class DiskWorkQueue {
 public:
  // How a route uses the disk.
  enum class Use {
    kNone,      // not at all, or not on the request path: dispatched as before
    kAsync,     // answers later from a commit thread (ingest): run inline, admitted and counted
    kBlocking,  // its handler waits for a catalog write: run on a worker thread
  };
  static Use needs_disk(const Route& route, Method method);

  explicit DiskWorkQueue(DiskWorkOptions options);
  // stop().
  ~DiskWorkQueue();
  DiskWorkQueue(const DiskWorkQueue&) = delete;
  DiskWorkQueue& operator=(const DiskWorkQueue&) = delete;

  // Admits the request or answers `respond` with 503 + Retry-After at once (in `style`). An
  // admitted request runs `handler` (inline for kAsync, on a worker for kBlocking) with a
  // responder that ends its admission when called.
  void run(Use use, ErrorStyle style, std::function<void(Responder)> handler, Responder respond);

  struct Stats {
    size_t in_flight = 0;   // admitted disk requests not answered yet
    int64_t oldest_ms = 0;  // age of the oldest of them
    int64_t catalog_backlog_ms = 0;
    uint64_t shed = 0;       // requests answered 503 because the disk is behind
    uint64_t timed_out = 0;  // admitted requests answered 503 at answer_within_ms
    bool shedding = false;   // a request arriving now would be shed
    std::string reason;      // why, when shedding
  };
  Stats stats() const;

  // Runs what is queued, then joins the workers; later requests are answered 503 at once. A
  // queued job uses its route, the dispatcher's context and the HTTP server (its responder),
  // so call this while they are alive, after the HTTP server stopped reading requests and
  // before what the handlers submit to (the Ingestor) stops. Idempotent.
  void stop();

 private:
  // Empty when a new request may be admitted; else why not.
  std::string overload_reason(int64_t oldest_ms, size_t in_flight, int64_t backlog_ms) const;
  int64_t oldest_locked(std::chrono::steady_clock::time_point now) const;
  Response unavailable(ErrorStyle style, const std::string& message) const;
  void release(uint64_t ticket);
  void worker_loop();
  void deadline_loop();  // answers admitted requests that passed answer_within_ms

  struct Admission;
  struct Entry {
    std::chrono::steady_clock::time_point since;
    std::weak_ptr<Admission> admission;
    bool expired = false;  // answered by the deadline; still waiting for the disk
  };

  DiskWorkOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t next_ticket_ = 0;  // guarded by mu_
  // Admitted and not yet finished (a request answered by the deadline stays until its handler
  // is done with the disk), oldest first.
  std::map<uint64_t, Entry> admitted_;      // guarded by mu_
  uint64_t shed_ = 0;                       // guarded by mu_
  std::deque<std::function<void()>> work_;  // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  std::atomic<uint64_t> timed_out_{0};
  std::condition_variable deadline_cv_;
  std::thread deadline_thread_;
  std::vector<std::thread> workers_;
};

// The dispatcher's hook (after authentication, before the handler): hands a request whose
// route needs the disk to `q` (admitted or shed there) and returns true; false, and nothing
// taken, when `q` is null or the route does not need the disk. `done` must keep the request
// `rc` refers to alive.
bool dispatch_disk_work(DiskWorkQueue* q, const Route& route, RequestContext& rc, ErrorStyle style,
                        const Responder& done);

}  // namespace fp::http
