#pragma once
// BackgroundJobs: runs a bounded number of long jobs (streamed exports) each on its own
// thread. A job gets a stop flag to poll; the destructor raises it and joins every job, so
// nothing a job uses may be destroyed before its BackgroundJobs.
//
// Thread safety: try_run() may be called from any thread.

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace fp {

class BackgroundJobs {
 public:
  using Job = std::function<void(const std::atomic<bool>& stop)>;

  explicit BackgroundJobs(size_t max_jobs) : max_jobs_(max_jobs) {}
  BackgroundJobs(const BackgroundJobs&) = delete;
  BackgroundJobs& operator=(const BackgroundJobs&) = delete;
  ~BackgroundJobs() {
    stop_ = true;
    std::lock_guard lock(mu_);
    for (auto& r : running_) r.thread.join();
  }

  // Whether try_run() would start a job now.
  bool has_capacity() {
    std::lock_guard lock(mu_);
    reap_locked();
    return running_.size() < max_jobs_ && !stop_;
  }

  // Starts `job` unless max_jobs are still running; false then.
  bool try_run(Job job) {
    std::lock_guard lock(mu_);
    reap_locked();
    if (running_.size() >= max_jobs_ || stop_) return false;
    auto done = std::make_shared<std::atomic<bool>>(false);
    running_.push_back({std::thread([this, done, job = std::move(job)] {
                          job(stop_);
                          done->store(true);
                        }),
                        done});
    return true;
  }

 private:
  struct Running {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  void reap_locked() {
    std::erase_if(running_, [](Running& r) {
      if (!r.done->load()) return false;
      r.thread.join();
      return true;
    });
  }

  const size_t max_jobs_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Running> running_;  // guarded by mu_
};

}  // namespace fp
