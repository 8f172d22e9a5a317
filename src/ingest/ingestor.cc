#include "ingest/ingestor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "ingest/derived_series.h"
#include "kpi/kpi_series_keys.h"  // header only: a device's KPI history keys (removals)

namespace fp {
namespace {
// Upper bound on one wait, so that deadlines stay correct even if the wall clock jumps.
constexpr int64_t kMaxWaitMs = 1000;
// How often last-seen times learned from telemetry are written to the catalog: every
// kSeenFlushMs, but at most kSeenFlushDevicesPerMs devices per millisecond since the last write
// (50k devices reporting: every 25 s). Each is a catalog row update, and with many devices they
// took 40 % of the server's CPU (issue 16); the WAL rebuilds them after a crash, and they are
// written before every WAL cut regardless.
constexpr int64_t kSeenFlushMs = 5000;
constexpr size_t kSeenFlushDevicesPerMs = 2;
}  // namespace

Ingestor::Ingestor(Catalog& catalog, DeviceStatusTracker& tracker, tsdb::TimeSeriesStore* store,
                   const Clock& clock, IngestorOptions options)
    : catalog_(catalog),
      tracker_(tracker),
      clock_(clock),
      options_(options),
      limits_(options.limits),
      store_(store) {
  if (store_) limits_.set_index(&store_->index());
}

void Ingestor::set_store(tsdb::TimeSeriesStore* store) {
  store_ = store;
  limits_.set_index(store_ ? &store_->index() : nullptr);
}

Status Ingestor::admit_new_devices(std::span<const std::string> ids, int64_t now_ms,
                                   int64_t* retry_after_s) {
  if (!options_.auto_register || limits_.options().max_registrations_per_minute == 0)
    return Status::Ok();
  std::vector<const std::string*> unknown;
  for (const std::string& id : ids)
    if (!tracker_.contains(id)) unknown.push_back(&id);
  if (unknown.empty()) return Status::Ok();
  std::lock_guard lock(admitted_mu_);
  std::erase_if(admitted_, [now_ms](const auto& e) { return e.second + 60'000 <= now_ms; });
  std::erase_if(unknown, [this](const std::string* id) { return admitted_.contains(*id); });
  if (limits_.take_registrations(unknown.size(), now_ms, retry_after_s)) {
    for (const std::string* id : unknown) admitted_.emplace(*id, now_ms);
    return Status::Ok();
  }
  return Status(StatusCode::kOverloaded,
                "too many new devices: at most " +
                    std::to_string(limits_.options().max_registrations_per_minute) +
                    " devices are registered automatically per minute (" +
                    std::string(limit_option(LimitKind::kRegistrationRate)) + "), retry later");
}

Ingestor::~Ingestor() {
  stop();
}

void Ingestor::set_transition_listener(TransitionListener fn) {
  listener_ = std::move(fn);
}

void Ingestor::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  last_seen_flush_ms_ = clock_.now_ms();
  if (store_ && !stamps_) stamps_.emplace(*store_);
  reap_stop_ = false;
  reaper_ = std::thread([this] { reap(); });
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
  {
    std::lock_guard lock(reap_mu_);
    reap_stop_ = true;
  }
  reap_cv_.notify_all();
  reaper_.join();
}

void Ingestor::reap() {
  std::vector<PendingTelemetry> requests;
  std::vector<std::shared_ptr<const ReadingBatch>> batches;
  for (;;) {
    {
      std::unique_lock lock(reap_mu_);
      reap_cv_.wait(
          lock, [this] { return reap_stop_ || !reap_requests_.empty() || !reap_batches_.empty(); });
      if (reap_requests_.empty() && reap_batches_.empty()) return;  // stopping, all freed
      requests.swap(reap_requests_);
      batches.swap(reap_batches_);
    }
    requests.clear();
    batches.clear();
  }
}

void Ingestor::hand_to_reaper(std::vector<PendingTelemetry>& telemetry, CommitEvent& event) {
  if (telemetry.empty() && event.telemetry.empty()) return;
  {
    std::lock_guard lock(reap_mu_);
    for (PendingTelemetry& t : telemetry) reap_requests_.push_back(std::move(t));
    for (CommitEvent::Telemetry& t : event.telemetry) reap_batches_.push_back(std::move(t.batch));
  }
  telemetry.clear();
  event.telemetry.clear();
  reap_cv_.notify_one();
}

void Ingestor::submit_heartbeat(HeartbeatReport report, std::function<void(HeartbeatAck)> done) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_ && queue_.size() < options_.max_pending) {
      queue_.push_back({std::move(report), std::move(done)});
      ++pending_;
      cv_.notify_one();
      return;
    }
  }
  ++rejected_;
  done({Status(StatusCode::kOverloaded, "ingest queue is full, retry later"), {}, 0});
}

void Ingestor::submit_telemetry(std::shared_ptr<ReadingBatch> batch, int64_t received_ms,
                                std::function<void(TelemetryAck)> done) {
  const size_t n = batch->points().size();
  PendingTelemetry pending{std::move(batch), received_ms, std::move(done)};
  if (store_) {
    // Lookups the commit thread would otherwise do, here on the submitting thread: the ids
    // SeriesAdmission resolved while the batch was decoded, else one index pass.
    const SeriesPairs& resolved = pending.batch->resolved_series();
    if (!resolved.empty()) {
      pending.ids_generation = resolved.generation;
      pending.ids.resize(n);
      const std::vector<Point>& points = pending.batch->points();
      for (size_t i = 0; i < n; ++i) {
        const uint32_t* id = resolved.find(SeriesPairs::key(points[i].device, points[i].metric));
        pending.ids[i] = id ? *id : tsdb::kNoSeries;
      }
    } else {
      pending.ids_generation = store_->index().removals();
      pending.ids = store_->find_series(*pending.batch);
    }
    pending.attributes_known = attributes_known(*pending.batch, &pending.attributes_epoch);
  }
  Status refused;
  if (!store_) {
    refused = Status::Unavailable("telemetry storage is not open");
  } else if (store_->over_budget()) {
    refused = Status(StatusCode::kOverloaded, "telemetry memory budget is full, retry later");
  } else {
    std::lock_guard lock(mu_);
    if (stopping_) {
      refused = Status::Unavailable("the server is shutting down");
    } else if (queued_points_ + n > options_.max_pending_points && queued_points_ > 0) {
      refused = Status(StatusCode::kOverloaded, "ingest queue is full, retry later");
    } else {
      queued_points_ += n;
      telemetry_queue_.push_back(std::move(pending));
      ++pending_;
      cv_.notify_one();
      return;
    }
  }
  ++rejected_;
  pending.done({refused});
}

void Ingestor::submit_removal(std::optional<std::string> device, bool with_data,
                              std::function<void(Status)> done) {
  if (!store_) return done(Status::Ok());
  {
    std::lock_guard lock(mu_);
    purge_queue_.push_back({std::move(device), with_data, std::move(done)});
  }
  cv_.notify_one();
}

void Ingestor::submit_flush(std::function<void(Status)> done) {
  if (!store_) return done(Status::Ok());
  {
    std::lock_guard lock(mu_);
    flush_queue_.push_back(std::move(done));
    woken_ = true;
  }
  cv_.notify_one();
}

void Ingestor::submit_transitions(std::vector<StatusTransition> transitions) {
  if (transitions.empty()) return;
  {
    std::lock_guard lock(mu_);
    for (auto& t : transitions) queued_transitions_.push_back(std::move(t));
  }
  cv_.notify_one();
}

void Ingestor::submit_derived(std::shared_ptr<ReadingBatch> batch,
                              std::function<void(Status)> done) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_ && store_) {
      derived_queue_.emplace_back(std::move(batch), std::move(done));
      woken_ = true;
      cv_.notify_one();
      return;
    }
  }
  done(Status::Unavailable("the server is shutting down"));
}

void Ingestor::wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_one();
}

IngestorStats Ingestor::stats() const {
  return {heartbeats_.load(),        rejected_.load(),        commits_.load(),
          commit_errors_.load(),     auto_registered_.load(), pending_.load(),
          telemetry_batches_.load(), points_.load()};
}

void Ingestor::run() {
  std::vector<PendingHeartbeat> batch;
  std::vector<PendingTelemetry> telemetry;
  std::vector<StatusTransition> transitions;
  std::vector<PendingPurge> purges;
  std::vector<std::function<void(Status)>> flushes;
  for (;;) {
    bool stop_now;
    {
      std::unique_lock lock(mu_);
      const int64_t deadline = tracker_.next_deadline();
      const int64_t wait_ms = std::clamp<int64_t>(
          deadline == kNoDeadline ? kMaxWaitMs : deadline - clock_.now_ms(), 0, kMaxWaitMs);
      cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [this] {
        return stopping_ || woken_ || !queue_.empty() || !telemetry_queue_.empty() ||
               !queued_transitions_.empty() || !purge_queue_.empty();
      });
      purges.swap(purge_queue_);
      flushes.swap(flush_queue_);
      woken_ = false;
      batch.swap(queue_);
      telemetry.swap(telemetry_queue_);
      queued_points_ = 0;
      transitions.swap(queued_transitions_);
      stop_now = stopping_;
    }
    // Derived series (KPI history, a few a minute): logged, made durable and applied together.
    std::vector<std::pair<std::shared_ptr<ReadingBatch>, std::function<void(Status)>>> derived;
    {
      std::lock_guard lock(mu_);
      derived.swap(derived_queue_);
    }
    if (!derived.empty()) {
      Status s = Status::Ok();
      for (auto& [b, done] : derived)
        if (s.ok()) s = store_->log(*b, clock_.now_ms());
      if (s.ok()) s = store_->commit();
      for (auto& [b, done] : derived) {
        if (s.ok()) store_->apply(*b);
        done(s);
      }
    }
    // Purges are rare: each is logged and made durable on its own, in queue order.
    for (auto& p : purges) {
      Status s = !p.device     ? store_->log_delete_all()
                 : p.with_data ? store_->log_delete_device(*p.device)
                               : store_->log_forget_device(*p.device);
      // The device's KPI history goes with it, in the same commit (dashboard branch).
      const std::vector<std::string> companions =
          p.device ? kpi_keys::keys_of_device(*p.device) : std::vector<std::string>{};
      for (const std::string& key : companions)
        if (s.ok()) s = store_->log_delete_device(key);
      if (s.ok()) s = store_->commit();
      if (s.ok())
        for (const std::string& key : companions) store_->apply_delete_device(key);
      if (s.ok() && p.with_data) {
        if (p.device) {
          store_->apply_delete_device(*p.device);
        } else {
          store_->apply_delete_all();
          if (stamps_) stamps_->forget_all();  // series ids start again
        }
      }
      // The catalog row (and its attributes) went with the device.
      {
        std::unique_lock lock(attributes_mu_);
        if (p.device)
          attributes_.erase(*p.device);
        else
          attributes_.clear();
        ++attributes_epoch_;
      }
      p.done(s);
    }
    purges.clear();
    // Deadline transitions first: they were due before anything in this batch was observed.
    auto due = tracker_.process_due(clock_.now_ms());
    transitions.insert(transitions.end(), std::make_move_iterator(due.begin()),
                       std::make_move_iterator(due.end()));
    for (auto& f : flushes) store_->request_flush(std::move(f));
    flushes.clear();
    // Last-seen times not yet in the catalog are rebuilt from the WAL after a crash, so they
    // are written before a new checkpoint lets maintain() cut the WAL.
    const bool cut_pending = store_ && store_->wal_cut_pending();
    const int64_t seen_every_ms = std::max<int64_t>(
        kSeenFlushMs, static_cast<int64_t>(dirty_seen_.size() / kSeenFlushDevicesPerMs));
    const bool flush_seen =
        stop_now || (!dirty_seen_.empty() &&
                     (clock_.now_ms() - last_seen_flush_ms_ >= seen_every_ms || cut_pending));
    if (!batch.empty() || !telemetry.empty() || !transitions.empty() || flush_seen)
      commit(batch, telemetry, transitions, flush_seen);
    if (store_) store_->maintain();
    batch.clear();
    telemetry.clear();
    transitions.clear();
    if (stop_now) {
      std::lock_guard lock(mu_);
      if (queue_.empty() && telemetry_queue_.empty() && queued_transitions_.empty() &&
          purge_queue_.empty())
        return;
    }
  }
}

bool Ingestor::ensure_device(const std::string& id, int64_t now_ms,
                             const std::optional<std::string>& name,
                             const std::optional<std::string>& location,
                             std::vector<Device>& new_devices) {
  if (tracker_.contains(id)) return true;
  if (!options_.auto_register) return false;
  Device d;
  d.device_id = id;
  d.name = name.value_or("");
  d.location = location.value_or("");
  d.created_at_ms = d.updated_at_ms = now_ms;
  tracker_.add(d);
  new_devices.push_back(std::move(d));
  ++auto_registered_;
  return true;
}

void Ingestor::observe_telemetry(const ReadingBatch& b, int64_t received_ms,
                                 std::vector<Device>& new_devices,
                                 std::vector<StatusTransition>& transitions) {
  // Battery and signal readings also update the device, like a heartbeat would.
  std::vector<std::optional<double>> battery(b.devices().size()), signal(b.devices().size());
  for (size_t m = 0; m < b.metrics().size(); ++m) {
    const std::string& name = b.metrics()[m];
    const bool is_battery = name == "battery_level" || name == "battery";
    const bool is_signal = name == "signal_strength" || name == "rssi";
    if (!is_battery && !is_signal) continue;
    for (const Point& p : b.points()) {
      if (p.metric != m) continue;
      if (is_battery && p.value >= 0 && p.value <= 100) battery[p.device] = p.value;
      if (is_signal && p.value >= -150 && p.value <= 0) signal[p.device] = p.value;
    }
  }
  for (size_t i = 0; i < b.devices().size(); ++i) {
    const std::string& id = b.devices()[i];
    if (!ensure_device(id, received_ms, std::nullopt, std::nullopt, new_devices)) continue;
    if (auto t = tracker_.observe(id, received_ms, battery[i], signal[i]))
      transitions.push_back(std::move(*t));
    auto [seen, inserted] = dirty_seen_.try_emplace(id);
    DeviceLiveUpdate& u = seen->second;
    if (inserted) u.device_id = id;
    u.last_seen_ms = std::max(u.last_seen_ms, received_ms);
    if (battery[i]) u.battery_level = battery[i];
    if (signal[i]) u.signal_strength = signal[i];
  }
}

bool Ingestor::collect_attributes(const ReadingBatch& b, int64_t received_ms,
                                  std::vector<DeviceAttribute>& out,
                                  std::vector<StatusTransition>& transitions) {
  bool any = false;
  std::string key;
  for (const Attribute& a : b.attributes()) {
    const std::string& device = b.devices()[a.device];
    // One row per (device, key) and commit: a later value in the group replaces an earlier one.
    key.assign(device).push_back('\0');
    key.append(a.key);
    if (auto slot = group_attributes_.find(key); slot != group_attributes_.end()) {
      out[slot->second].value = a.value;
      out[slot->second].updated_at_ms = received_ms;
    } else {
      // Only this thread writes attributes_, so it reads without the lock.
      if (auto d = attributes_.find(device); d != attributes_.end())
        if (auto it = d->second.find(a.key); it != d->second.end() && it->second == a.value)
          continue;
      group_attributes_.emplace(key, out.size());
      out.push_back({device, a.key, a.value, received_ms});
    }
    any = true;
    if (a.key == "tag.type" && tracker_.contains(device)) {
      if (auto t = tracker_.set_type(device, a.value)) transitions.push_back(std::move(*t));
    }
  }
  return any;
}

bool Ingestor::attributes_known(const ReadingBatch& b, uint64_t* epoch) const {
  std::shared_lock lock(attributes_mu_);
  *epoch = attributes_epoch_;
  uint32_t last = UINT32_MAX;
  const std::unordered_map<std::string, std::string>* known = nullptr;
  for (const Attribute& a : b.attributes()) {
    if (a.device != last) {
      last = a.device;
      auto d = attributes_.find(b.devices()[a.device]);
      if (d == attributes_.end()) return false;
      known = &d->second;
    }
    auto it = known->find(a.key);
    if (it == known->end() || it->second != a.value) return false;
  }
  return true;
}

void Ingestor::answer_telemetry(std::vector<PendingTelemetry>& telemetry,
                                std::vector<TelemetryAck>& acks) {
  pending_ -= telemetry.size();
  for (size_t i = 0; i < telemetry.size(); ++i) {
    if (!acks[i].status.ok()) ++rejected_;
    telemetry[i].done(std::move(acks[i]));
  }
  CommitEvent none;
  hand_to_reaper(telemetry, none);
}

void Ingestor::commit(std::vector<PendingHeartbeat>& batch,
                      std::vector<PendingTelemetry>& telemetry,
                      std::vector<StatusTransition>& transitions, bool flush_seen) {
  // 1. Telemetry: WAL append for every batch, one fsync for all, then make it visible.
  std::vector<TelemetryAck> telemetry_acks(telemetry.size());
  std::vector<Device> new_devices;
  CommitEvent event;
  std::vector<DeviceAttribute> attributes;
  std::vector<char> changed_attributes(telemetry.size(), 0);
  if (!telemetry.empty()) {
    // Server timestamps first: the WAL records what readers will see.
    std::vector<ReadingBatch*> batches(telemetry.size());
    for (size_t i = 0; i < telemetry.size(); ++i) batches[i] = telemetry[i].batch.get();
    if (stamps_) stamps_->stamp_group(batches);
    bool any_logged = false;
    for (size_t i = 0; i < telemetry.size(); ++i) {
      Status s = store_->log(*telemetry[i].batch, telemetry[i].received_ms);
      if (s.ok())
        any_logged = true;
      else
        telemetry_acks[i].status = Status::IoError("WAL write failed: " + s.message());
    }
    Status durable = any_logged ? store_->commit() : Status::Ok();
    for (size_t i = 0; i < telemetry.size(); ++i) {
      if (!telemetry_acks[i].status.ok()) continue;
      if (!durable.ok()) {
        telemetry_acks[i].status = Status::IoError("WAL fsync failed: " + durable.message());
        continue;
      }
      PendingTelemetry& t = telemetry[i];
      if (t.ids_generation == store_->index().removals())
        store_->apply(*t.batch, t.ids);
      else
        store_->apply(*t.batch);  // a device was removed since: its ids may be stale
      if (!commit_listeners_.empty() || ack_barrier_)
        event.telemetry.push_back({telemetry[i].batch, telemetry[i].received_ms});
      observe_telemetry(*telemetry[i].batch, telemetry[i].received_ms, new_devices, transitions);
      // Attributes all equal to the catalog's when submitted, with nothing changed since
      // (same epoch, no change earlier in this group), have nothing to write.
      const bool unchanged = t.attributes_known && t.attributes_epoch == attributes_epoch_ &&
                             group_attributes_.empty();
      if (!t.batch->attributes().empty() && !unchanged)
        changed_attributes[i] = collect_attributes(*telemetry[i].batch, telemetry[i].received_ms,
                                                   attributes, transitions);
      ++telemetry_batches_;
      points_ += telemetry[i].batch->points().size();
    }
    if (durable.ok()) {
      ++commits_;  // a good WAL commit also ends a run of failed ones (health recovers)
    } else {
      ++commit_errors_;
      spdlog::error("event=wal_commit_failed batches={} error=\"{}\"", telemetry.size(),
                    durable.message());
    }
    if (stamps_) stamps_->end_group();
    group_attributes_.clear();
    // Durable and visible: answer now, unless the telemetry registered devices or changed
    // attributes, which must be in the catalog (below) before the writer is told it succeeded.
    // The ack barrier (KPI activity) runs before any of these answers leaves.
    if (ack_barrier_ && !event.telemetry.empty()) ack_barrier_(event);
    if (new_devices.empty() && attributes.empty()) answer_telemetry(telemetry, telemetry_acks);
  }

  // 2. Heartbeats, new devices, status changes (and, now and then, telemetry last-seen
  //    times) in one catalog transaction.
  std::vector<DeviceLiveUpdate> updates;
  std::vector<HeartbeatAck> acks(batch.size());
  updates.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    const HeartbeatReport& r = batch[i].report;
    if (!ensure_device(r.device_id, r.received_ms, r.name, r.location, new_devices)) {
      acks[i].status = Status::NotFound("device '" + r.device_id + "' is not registered");
      continue;
    }
    if (auto t = tracker_.observe(r.device_id, r.received_ms, r.battery_level, r.signal_strength))
      transitions.push_back(std::move(*t));
    auto live = tracker_.get(r.device_id);
    acks[i].device_status = live ? live->status : DeviceStatus::kUnknown;
    acks[i].last_seen_ms = live && live->last_seen_ms ? *live->last_seen_ms : r.received_ms;
    updates.push_back({r.device_id, r.received_ms, r.battery_level, r.signal_strength, r.geo,
                       r.name, r.location});
    dirty_seen_.erase(r.device_id);  // this update carries a newer last-seen
  }
  // The heartbeats' battery and signal as series of their devices, durable before the answer.
  if (store_) {
    ReadingBatch fields;
    int64_t newest = 0;
    for (size_t i = 0; i < batch.size(); ++i)
      if (acks[i].status.ok() && add_heartbeat_series(fields, batch[i].report))
        newest = std::max(newest, batch[i].report.received_ms);
    Status s = fields.points().empty() ? Status::Ok() : store_->log(fields, newest);
    if (s.ok() && !fields.points().empty()) s = store_->commit();
    if (s.ok() && !fields.points().empty()) store_->apply(fields);
    for (size_t i = 0; i < batch.size() && !s.ok(); ++i)
      if (acks[i].status.ok() && (batch[i].report.battery_level || batch[i].report.signal_strength))
        acks[i].status = Status::IoError("WAL write failed: " + s.message());
  }
  const size_t seen_from = updates.size();
  if (flush_seen) {
    for (auto& [id, u] : dirty_seen_) updates.push_back(std::move(u));
    dirty_seen_.clear();
    last_seen_flush_ms_ = clock_.now_ms();
  }

  Status st = Status::Ok();
  if (!new_devices.empty() || !updates.empty() || !transitions.empty() || !attributes.empty()) {
    st = catalog_.apply_reports_and_attributes(new_devices, updates, transitions, attributes);
    ++commits_;
    if (!st.ok()) {
      ++commit_errors_;
      spdlog::error("event=commit_failed reports={} transitions={} error=\"{}\"", batch.size(),
                    transitions.size(), st.message());
    } else if (listener_ && !transitions.empty()) {
      listener_(transitions);
    }
  }
  if (flush_seen && !st.ok()) {
    // Last-seen times not saved: keep them for the next try, and the WAL they come from.
    for (size_t i = seen_from; i < updates.size(); ++i)
      dirty_seen_.try_emplace(updates[i].device_id, std::move(updates[i]));
    if (store_) store_->hold_wal_cut();
  }
  if (!attributes.empty()) {
    if (st.ok()) {
      std::unique_lock lock(attributes_mu_);
      for (DeviceAttribute& a : attributes)
        attributes_[a.device_id][std::move(a.key)] = std::move(a.value);
      ++attributes_epoch_;
    } else {
      // The points are durable, the attributes are not: the writer must know.
      for (size_t i = 0; i < telemetry.size(); ++i)
        if (changed_attributes[i] && telemetry_acks[i].status.ok())
          telemetry_acks[i].status = Status::IoError("attribute write failed: " + st.message());
    }
  }
  if (ack_barrier_ && st.ok()) {
    CommitEvent acked;
    for (size_t i = 0; i < batch.size(); ++i)
      if (acks[i].status.ok()) acked.heartbeats.push_back(&batch[i].report);
    if (!acked.empty()) ack_barrier_(acked);
  }
  answer_telemetry(telemetry, telemetry_acks);  // no-op when answered above
  pending_ -= batch.size();
  for (size_t i = 0; i < batch.size(); ++i) {
    HeartbeatAck& a = acks[i];
    if (a.status.ok() && !st.ok())
      a.status = Status::IoError("storage write failed: " + st.message());
    if (a.status.ok()) {
      ++heartbeats_;
      if (!commit_listeners_.empty()) event.heartbeats.push_back(&batch[i].report);
    } else {
      ++rejected_;
    }
    batch[i].done(std::move(a));
  }
  if (st.ok()) event.transitions = transitions;
  if (!event.empty())
    for (const auto& fn : commit_listeners_) fn(event);
  hand_to_reaper(telemetry, event);
}

}  // namespace fp
