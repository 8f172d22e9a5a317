#include "storage/catalog/write_queue.h"

#include <exception>
#include <future>
#include <string>
#include <utility>
#include <vector>

#include "storage/catalog/catalog.h"
#include "storage/catalog/sqlite_catalog.h"

namespace fp {

CatalogWriteQueue::CatalogWriteQueue(SqliteCatalog& catalog, CatalogWriteQueueOptions options)
    : catalog_(catalog), options_(options) {
  if (options_.max_group == 0) options_.max_group = 1;
  std::promise<void> started;
  auto ready = started.get_future();
  writer_ = std::thread([this, &started] {
    writer_id_ = std::this_thread::get_id();
    started.set_value();
    writer_loop();
  });
  ready.wait();
}

CatalogWriteQueue::~CatalogWriteQueue() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  writer_.join();
}

void CatalogWriteQueue::submit(Op op, Done done) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back({std::move(op), std::move(done), std::chrono::steady_clock::now()});
  }
  cv_.notify_one();
}

Status CatalogWriteQueue::run(Op op) {
  if (on_writer_thread()) return op(catalog_);  // from a callback: already inside the writer
  std::promise<Status> outcome;
  auto future = outcome.get_future();
  submit(std::move(op), [&outcome](Status s) { outcome.set_value(std::move(s)); });
  return future.get();
}

CatalogWriteQueue::Stats CatalogWriteQueue::stats() const {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  Stats s;
  s.depth = queue_.size();
  s.in_commit = in_commit_;
  std::chrono::steady_clock::time_point oldest{};
  if (in_commit_ > 0)
    oldest = in_commit_since_;
  else if (!queue_.empty())
    oldest = queue_.front().queued_at;
  if (oldest != std::chrono::steady_clock::time_point{})
    s.oldest_age_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - oldest).count();
  s.groups = groups_;
  s.writes = writes_;
  s.failed = failed_;
  s.last_commit_ms = last_commit_ms_;
  return s;
}

void CatalogWriteQueue::writer_loop() {
  std::vector<Item> group;
  std::vector<std::function<Status()>> ops;
  std::vector<Status> results;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      group.clear();
      while (!queue_.empty() && group.size() < options_.max_group) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      in_commit_ = group.size();
      in_commit_since_ = group.front().queued_at;
    }
    ops.clear();
    for (Item& item : group)
      ops.emplace_back([this, &item]() -> Status {
        try {
          return item.op(catalog_);
        } catch (const std::exception& e) {
          return Status::Internal(std::string("catalog write failed: ") + e.what());
        }
      });
    const auto started = std::chrono::steady_clock::now();
    catalog_.run_grouped(ops, results);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
    uint64_t failed = 0;
    for (const Status& s : results) failed += s.ok() ? 0 : 1;
    {
      std::lock_guard lock(mu_);
      in_commit_ = 0;
      ++groups_;
      writes_ += group.size();
      failed_ += failed;
      last_commit_ms_ = took;
    }
    // Completed in queue order, after the commit.
    for (size_t i = 0; i < group.size(); ++i)
      if (group[i].done) group[i].done(std::move(results[i]));
  }
}

void write_later(Catalog& catalog, CatalogWriteQueue::Op op, CatalogWriteQueue::Done done) {
  if (CatalogWriteQueue* q = catalog.write_queue())
    return q->submit(std::move(op), std::move(done));
  Status s = op(catalog);
  if (done) done(std::move(s));
}

}  // namespace fp
