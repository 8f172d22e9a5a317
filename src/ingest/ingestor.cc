#include "ingest/ingestor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace fp {
namespace {
// Upper bound on one wait, so that deadlines stay correct even if the wall clock jumps.
constexpr int64_t kMaxWaitMs = 1000;
}  // namespace

Ingestor::Ingestor(Catalog& catalog, DeviceStatusTracker& tracker, const Clock& clock,
                   IngestorOptions options)
    : catalog_(catalog), tracker_(tracker), clock_(clock), options_(options) {}

Ingestor::~Ingestor() { stop(); }

void Ingestor::set_transition_listener(TransitionListener fn) { listener_ = std::move(fn); }

void Ingestor::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void Ingestor::stop() {
  {
    std::lock_guard lock(mu_);
    if (!thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Ingestor::submit_heartbeat(HeartbeatReport report, std::function<void(HeartbeatAck)> done) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_ && queue_.size() < options_.max_pending) {
      queue_.push_back({std::move(report), std::move(done)});
      ++pending_;
      if (queue_.size() == 1) cv_.notify_one();
      return;
    }
  }
  ++rejected_;
  done({Status(StatusCode::kOverloaded, "ingest queue is full, retry later"), {}, 0});
}

void Ingestor::submit_transitions(std::vector<StatusTransition> transitions) {
  if (transitions.empty()) return;
  {
    std::lock_guard lock(mu_);
    for (auto& t : transitions) queued_transitions_.push_back(std::move(t));
  }
  cv_.notify_one();
}

void Ingestor::wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_one();
}

IngestorStats Ingestor::stats() const {
  return {heartbeats_.load(), rejected_.load(), commits_.load(), commit_errors_.load(),
          auto_registered_.load(), pending_.load()};
}

void Ingestor::run() {
  std::vector<PendingHeartbeat> batch;
  std::vector<StatusTransition> transitions;
  for (;;) {
    bool stop_now;
    {
      std::unique_lock lock(mu_);
      const int64_t deadline = tracker_.next_deadline();
      const int64_t wait_ms =
          std::clamp<int64_t>(deadline == kNoDeadline ? kMaxWaitMs : deadline - clock_.now_ms(),
                              0, kMaxWaitMs);
      cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [this] {
        return stopping_ || woken_ || !queue_.empty() || !queued_transitions_.empty();
      });
      woken_ = false;
      batch.swap(queue_);
      transitions.swap(queued_transitions_);
      stop_now = stopping_;
    }
    // Deadline transitions first: they were due before anything in this batch was observed.
    auto due = tracker_.process_due(clock_.now_ms());
    transitions.insert(transitions.end(), std::make_move_iterator(due.begin()),
                       std::make_move_iterator(due.end()));
    if (!batch.empty() || !transitions.empty()) commit(batch, transitions);
    batch.clear();
    transitions.clear();
    if (stop_now) {
      std::lock_guard lock(mu_);
      if (queue_.empty() && queued_transitions_.empty()) return;
    }
  }
}

void Ingestor::commit(std::vector<PendingHeartbeat>& batch,
                      std::vector<StatusTransition>& transitions) {
  std::vector<Device> new_devices;
  std::vector<DeviceLiveUpdate> updates;
  std::vector<HeartbeatAck> acks(batch.size());
  updates.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    const HeartbeatReport& r = batch[i].report;
    if (!tracker_.contains(r.device_id)) {
      if (!options_.auto_register) {
        acks[i].status = Status::NotFound("device '" + r.device_id + "' is not registered");
        continue;
      }
      Device d;
      d.device_id = r.device_id;
      d.name = r.name.value_or("");
      d.location = r.location.value_or("");
      d.created_at_ms = d.updated_at_ms = r.received_ms;
      tracker_.add(d);
      new_devices.push_back(std::move(d));
      ++auto_registered_;
    }
    if (auto t = tracker_.observe(r.device_id, r.received_ms, r.battery_level, r.signal_strength))
      transitions.push_back(std::move(*t));
    auto live = tracker_.get(r.device_id);
    acks[i].device_status = live ? live->status : DeviceStatus::kUnknown;
    acks[i].last_seen_ms = live && live->last_seen_ms ? *live->last_seen_ms : r.received_ms;
    updates.push_back({r.device_id, r.received_ms, r.battery_level, r.signal_strength, r.geo,
                       r.name, r.location});
  }

  Status st = catalog_.apply_reports(new_devices, updates, transitions);
  ++commits_;
  if (!st.ok()) {
    ++commit_errors_;
    spdlog::error("event=commit_failed reports={} transitions={} error=\"{}\"", batch.size(),
                  transitions.size(), st.message());
  } else if (listener_ && !transitions.empty()) {
    listener_(transitions);
  }
  pending_ -= batch.size();
  for (size_t i = 0; i < batch.size(); ++i) {
    HeartbeatAck& a = acks[i];
    if (a.status.ok() && !st.ok()) a.status = Status::IoError("storage write failed: " + st.message());
    if (a.status.ok()) ++heartbeats_;
    else ++rejected_;
    batch[i].done(std::move(a));
  }
}

}  // namespace fp
