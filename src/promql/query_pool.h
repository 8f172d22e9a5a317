#pragma once
// QueryPool: a fixed set of worker threads that evaluate PromQL queries, so that a query holds
// neither a network thread nor pays for starting a thread of its own. Jobs wait in a bounded
// queue; when it is full try_submit() refuses and the caller runs the query itself.
//
// Thread safety: try_submit() may be called from any thread. The destructor runs what is
// queued, then joins the workers, so nothing a job uses may be destroyed before the pool.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace fp::promql {

class QueryPool {
 public:
  // `threads` workers (started at once), at most `max_queued` jobs waiting.
  QueryPool(size_t threads, size_t max_queued);
  QueryPool(const QueryPool&) = delete;
  QueryPool& operator=(const QueryPool&) = delete;
  ~QueryPool();

  // Queues `job`; false (and `job` not run) when the queue is full.
  bool try_submit(std::function<void()> job);

 private:
  void work();

  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> workers_;
};

}  // namespace fp::promql
