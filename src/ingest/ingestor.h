#pragma once
// Ingestor: the one commit path. Transports submit decoded reports; one commit thread takes
// everything queued, applies it to the status tracker, writes it in a single durable
// transaction (group commit: concurrent requests share one fsync), and only then completes
// the waiting requests. The same thread fires the status tracker's deadlines, so every
// status change is persisted in the order it happened.
//
// Thread safety: submit_* and wake() may be called from any thread. Completion callbacks run
// on the commit thread and must not block.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "ingest/heartbeat.h"
#include "monitor/device_status_tracker.h"
#include "storage/catalog/catalog.h"
#include "util/clock.h"

namespace fp {

struct IngestorOptions {
  bool auto_register = true;       // unknown reporting devices are registered on the fly
  size_t max_pending = 200'000;    // queued reports beyond this are refused (back-pressure)
};

struct HeartbeatAck {
  Status status;  // kNotFound (unknown device, auto-registration off), kOverloaded, kIoError
  DeviceStatus device_status = DeviceStatus::kUnknown;
  int64_t last_seen_ms = 0;
};

struct IngestorStats {
  uint64_t heartbeats = 0;       // committed
  uint64_t rejected = 0;         // refused: overload, unknown device, storage error
  uint64_t commits = 0;          // transactions
  uint64_t commit_errors = 0;
  uint64_t auto_registered = 0;
  uint64_t pending = 0;
};

class Ingestor {
 public:
  using TransitionListener = std::function<void(const std::vector<StatusTransition>&)>;

  // `catalog`, `tracker` and `clock` must outlive the Ingestor.
  Ingestor(Catalog& catalog, DeviceStatusTracker& tracker, const Clock& clock,
           IngestorOptions options);
  ~Ingestor();

  // Called on the commit thread after each persisted batch of status changes.
  void set_transition_listener(TransitionListener fn);

  void start();
  // Commits everything still queued, then stops the thread.
  void stop();

  void submit_heartbeat(HeartbeatReport report, std::function<void(HeartbeatAck)> done);
  // Persists status changes produced outside the commit thread (e.g. a device's type changed).
  void submit_transitions(std::vector<StatusTransition> transitions);
  // Makes the commit thread re-check the tracker's deadlines now.
  void wake();

  IngestorStats stats() const;

 private:
  struct PendingHeartbeat {
    HeartbeatReport report;
    std::function<void(HeartbeatAck)> done;
  };

  void run();
  void commit(std::vector<PendingHeartbeat>& heartbeats, std::vector<StatusTransition>& transitions);

  Catalog& catalog_;
  DeviceStatusTracker& tracker_;
  const Clock& clock_;
  const IngestorOptions options_;
  TransitionListener listener_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<PendingHeartbeat> queue_;            // guarded by mu_
  std::vector<StatusTransition> queued_transitions_;  // guarded by mu_
  bool stopping_ = false;                          // guarded by mu_
  bool woken_ = false;                             // guarded by mu_
  std::thread thread_;

  std::atomic<uint64_t> heartbeats_{0}, rejected_{0}, commits_{0}, commit_errors_{0},
      auto_registered_{0}, pending_{0};
};

}  // namespace fp
