#pragma once
// CatalogWriteQueue: every catalog write goes through here. One writer thread takes whatever
// is queued (up to max_group writes), runs it in ONE SQLite transaction (each write in its own
// savepoint, so one failing write is rolled back alone) and commits once, so a slow fsync is
// paid once per group rather than once per write. Callers are completed after the commit:
// asynchronously through a callback (network threads: submit) or by waiting (run).
//
// Durability: a write's status is ok only once the transaction holding it committed
// (synchronous=FULL in WAL mode). A write still queued when the process dies was never
// acknowledged. stats() reports the depth and the age of the oldest queued write, which the
// HTTP layer uses to shed load before the disk makes clients time out.
//
// Thread safety: every method may be called from any thread. Ops and callbacks run on the
// writer thread; a callback must not wait for another write (run() from the writer thread
// runs the op inline instead of deadlocking).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "util/result.h"

namespace fp {

class Catalog;
class SqliteCatalog;

struct CatalogWriteQueueOptions {
  size_t max_group = 512;  // writes committed in one transaction at most
};

class CatalogWriteQueue {
 public:
  // Runs on the writer thread inside the group's transaction; gets the unqueued catalog.
  using Op = std::function<Status(Catalog&)>;
  // Called on the writer thread once the op's fate is durable: ok, the op's own error, or the
  // group's commit error.
  using Done = std::function<void(Status)>;

  struct Stats {
    size_t depth = 0;            // writes queued, not yet taken by the writer
    size_t in_commit = 0;        // writes in the group being committed now
    int64_t oldest_age_ms = 0;   // age of the oldest write queued or being committed (0: none)
    uint64_t groups = 0;         // transactions committed or attempted
    uint64_t writes = 0;         // writes completed
    uint64_t failed = 0;         // writes completed with an error
    int64_t last_commit_ms = 0;  // duration of the last group's transaction
  };

  // `catalog` must outlive the queue. Starts the writer thread.
  explicit CatalogWriteQueue(SqliteCatalog& catalog, CatalogWriteQueueOptions options = {});
  // Completes everything queued, then joins the writer thread.
  ~CatalogWriteQueue();
  CatalogWriteQueue(const CatalogWriteQueue&) = delete;
  CatalogWriteQueue& operator=(const CatalogWriteQueue&) = delete;

  // Queues `op`; `done` (may be empty) is called with its outcome. Never blocks on the disk.
  void submit(Op op, Done done);
  // Queues `op` and waits for its outcome (for threads that may wait: not network threads).
  Status run(Op op);

  Stats stats() const;
  bool on_writer_thread() const { return std::this_thread::get_id() == writer_id_; }

 private:
  struct Item {
    Op op;
    Done done;
    std::chrono::steady_clock::time_point queued_at;
  };
  void writer_loop();

  SqliteCatalog& catalog_;
  CatalogWriteQueueOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;  // guarded by mu_
  bool stopping_ = false;   // guarded by mu_
  // The group being committed: its size and the oldest queued_at in it (guarded by mu_).
  size_t in_commit_ = 0;
  std::chrono::steady_clock::time_point in_commit_since_{};
  uint64_t groups_ = 0, writes_ = 0, failed_ = 0;  // guarded by mu_
  int64_t last_commit_ms_ = 0;                     // guarded by mu_

  std::thread writer_;
  std::thread::id writer_id_;
};

// Queues `op` on `catalog`'s write queue without waiting for the disk (runs it at once when
// the catalog has no queue) and calls `done` (may be empty) with the outcome. For network
// threads (MQTT session and push-queue writes): writes from one thread commit in call order.
void write_later(Catalog& catalog, CatalogWriteQueue::Op op, CatalogWriteQueue::Done done = {});

}  // namespace fp
