#pragma once
// AnswerPump: one thread that carries on writing streamed query answers whose clients stopped
// taking bytes for a moment, so that a query worker (QueryPool) is not held while a socket
// drains: the worker writes what the socket takes, parks the rest here and is free for the next
// query. The pump resumes each parked answer every couple of milliseconds (each task decides
// whether its client took enough to write more, and when to give up on one that takes nothing).
//
// Thread safety: try_park() may be called from any thread; tasks run on the pump's thread only.
// The destructor drops the tasks still parked (their destructors run then, on the destroying
// thread) and joins the thread.

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace fp::promql {

class AnswerPump {
 public:
  // A parked answer: writes what it can and returns true once it is done (complete, its client
  // gone, or cut off), false to be called again a moment later. Must not block.
  using Task = std::function<bool()>;

  // At most `max_parked` answers parked at once (each holds its evaluated matrix).
  explicit AnswerPump(size_t max_parked);
  AnswerPump(const AnswerPump&) = delete;
  AnswerPump& operator=(const AnswerPump&) = delete;
  ~AnswerPump();

  // Parks `task` (moved from) unless max_parked are parked already: then false and `task` is
  // left to the caller.
  bool try_park(Task& task);
  // Answers parked now.
  size_t parked() const;

 private:
  void run();

  const size_t max_parked_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Task> incoming_;  // guarded by mu_: parked, not yet picked up by run()
  size_t parked_ = 0;           // guarded by mu_: incoming_ + those run() holds
  bool stopping_ = false;       // guarded by mu_
  std::thread thread_;
};

}  // namespace fp::promql
