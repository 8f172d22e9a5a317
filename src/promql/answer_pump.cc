#include "promql/answer_pump.h"

#include <chrono>
#include <utility>

namespace fp::promql {

AnswerPump::AnswerPump(size_t max_parked) : max_parked_(max_parked) {
  thread_ = std::thread([this] { run(); });
}

AnswerPump::~AnswerPump() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool AnswerPump::try_park(Task& task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || parked_ >= max_parked_) return false;
    incoming_.push_back(std::move(task));
    ++parked_;
  }
  cv_.notify_one();
  return true;
}

size_t AnswerPump::parked() const {
  std::lock_guard lock(mu_);
  return parked_;
}

void AnswerPump::run() {
  std::vector<Task> tasks;  // this thread's only
  std::unique_lock lock(mu_);
  while (true) {
    // Asleep while nothing is parked; otherwise a pass every 2 ms.
    if (tasks.empty())
      cv_.wait(lock, [this] { return stopping_ || !incoming_.empty(); });
    else
      cv_.wait_for(lock, std::chrono::milliseconds(2), [this] { return stopping_; });
    if (stopping_) break;
    for (Task& t : incoming_) tasks.push_back(std::move(t));
    incoming_.clear();
    lock.unlock();
    size_t done = 0;
    for (size_t i = 0; i < tasks.size();) {
      if (tasks[i]()) {
        tasks[i] = std::move(tasks.back());
        tasks.pop_back();
        ++done;
      } else {
        ++i;
      }
    }
    lock.lock();
    parked_ -= done;
  }
  incoming_.clear();
  lock.unlock();
  tasks.clear();
}

}  // namespace fp::promql
