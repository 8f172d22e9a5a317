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
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ingest/cardinality_limits.h"
#include "ingest/heartbeat.h"
#include "ingest/server_timestamps.h"
#include "model/reading_batch.h"
#include "monitor/device_status_tracker.h"
#include "storage/catalog/catalog.h"
#include "storage/tsdb/time_series_store.h"
#include "util/clock.h"

namespace fp {

struct IngestorOptions {
  bool auto_register = true;              // unknown reporting devices are registered on the fly
  size_t max_pending = 200'000;           // queued reports beyond this are refused (back-pressure)
  size_t max_pending_points = 4'000'000;  // queued telemetry values beyond this are refused
  CardinalityLimitOptions limits;         // series and registration limits (limits branch)
};

struct HeartbeatAck {
  Status status;  // kNotFound (unknown device, auto-registration off), kOverloaded, kIoError
  DeviceStatus device_status = DeviceStatus::kUnknown;
  int64_t last_seen_ms = 0;
};

struct TelemetryAck {
  Status status;  // kOverloaded (queue or store full), kIoError (WAL write or fsync failed)
};

struct IngestorStats {
  uint64_t heartbeats = 0;  // committed
  uint64_t rejected = 0;    // refused: overload, unknown device, storage error
  uint64_t commits = 0;     // durable commits: catalog transactions and WAL group commits
  uint64_t commit_errors = 0;
  uint64_t auto_registered = 0;
  uint64_t pending = 0;
  uint64_t telemetry_batches = 0;  // committed
  uint64_t points = 0;             // committed
};

// What one commit made durable, as commit listeners see it. The pointers and spans are valid
// only during the listener call; batches may be kept (shared).
struct CommitEvent {
  struct Telemetry {
    std::shared_ptr<const ReadingBatch> batch;
    int64_t received_ms = 0;
  };
  std::vector<Telemetry> telemetry;                // durable and visible
  std::vector<const HeartbeatReport*> heartbeats;  // persisted
  std::span<const StatusTransition> transitions;   // persisted, in order
  bool empty() const { return telemetry.empty() && heartbeats.empty() && transitions.empty(); }
};

class Ingestor {
 public:
  using TransitionListener = std::function<void(const std::vector<StatusTransition>&)>;
  using CommitListener = std::function<void(const CommitEvent&)>;

  // `catalog`, `tracker`, `store` and `clock` must outlive the Ingestor. `store` may be null
  // (no telemetry), as in tests of the heartbeat path.
  Ingestor(Catalog& catalog, DeviceStatusTracker& tracker, tsdb::TimeSeriesStore* store,
           const Clock& clock, IngestorOptions options);
  ~Ingestor();

  // Called on the commit thread after each persisted batch of status changes.
  void set_transition_listener(TransitionListener fn);
  // Called on the commit thread after each commit with what became durable (alert evaluation,
  // live stream, KPIs). Must not block: hand work over to another thread. Set before start().
  void add_commit_listener(CommitListener fn) { commit_listeners_.push_back(std::move(fn)); }
  // Called on the commit thread with what is durable and about to be acknowledged, before it
  // is: committed telemetry before its answers, committed heartbeats before theirs (at most
  // twice per commit). State derived from the reports (KPI activity) is made durable here,
  // so a crash never loses it for an answered report. Must be quick. Set before start().
  void set_ack_barrier(CommitListener fn) { ack_barrier_ = std::move(fn); }

  // Attaches the telemetry store (before start(); the store may replay into this Ingestor
  // while it opens, so the two are created separately).
  void set_store(tsdb::TimeSeriesStore* store);

  // The cardinality limits every transport applies before it submits (SeriesAdmission per
  // request). Any thread.
  CardinalityLimits& limits() { return limits_; }
  // Auto-registration budget: the devices of `ids` not registered yet each take one
  // registration (CardinalityLimits::take_registrations) when auto-registration is on. OK when
  // they fit, else kOverloaded naming the limit and `*retry_after_s` set. Any thread.
  Status admit_new_devices(std::span<const std::string> ids, int64_t now_ms,
                           int64_t* retry_after_s);

  void start();
  // Commits everything still queued, then stops the thread.
  void stop();

  void submit_heartbeat(HeartbeatReport report, std::function<void(HeartbeatAck)> done);
  // Queues a decoded telemetry batch; `done` runs once it is durable and visible, or failed.
  // The Ingestor takes the batch over: on the commit thread it gives its unstamped points their
  // server timestamps (ServerTimestamps) before the WAL write, and records its attributes that
  // changed in the catalog in the same commit (the answer waits for that transaction).
  void submit_telemetry(std::shared_ptr<ReadingBatch> batch, int64_t received_ms,
                        std::function<void(TelemetryAck)> done);
  // Records durably that a device was removed (or all, with nullopt), so a restart does not
  // register it again from older telemetry; with `with_data` its telemetry goes too.
  void submit_removal(std::optional<std::string> device, bool with_data,
                      std::function<void(Status)> done);
  // Seals everything the store holds in memory into block files; `done` runs (on the store's
  // block thread) once they are durable.
  void submit_flush(std::function<void(Status)> done);
  // Persists status changes produced outside the commit thread (e.g. a device's type changed).
  void submit_transitions(std::vector<StatusTransition> transitions);
  // Series the server computes itself under internal keys (KPI history, derived_series.h):
  // written to the WAL and made visible like telemetry, but never observed as device activity
  // (no last-seen, registration, KPI activity or listeners). `done` runs on the commit thread
  // once the batch is durable and visible, or failed.
  void submit_derived(std::shared_ptr<ReadingBatch> batch, std::function<void(Status)> done);
  // Makes the commit thread re-check the tracker's deadlines now.
  void wake();

  IngestorStats stats() const;

 private:
  struct PendingHeartbeat {
    HeartbeatReport report;
    std::function<void(HeartbeatAck)> done;
  };

  struct PendingTelemetry {
    std::shared_ptr<ReadingBatch> batch;
    int64_t received_ms;
    std::function<void(TelemetryAck)> done;
    // Work done on the submitting thread so the commit thread need not: each point's series
    // id (kNoSeries: new series) as of the index's removals() `ids_generation`, and
    // whether every attribute already equals the catalog's value as of `attributes_epoch`.
    std::vector<tsdb::SeriesId> ids;
    uint64_t ids_generation = 0;
    bool attributes_known = false;
    uint64_t attributes_epoch = 0;
  };

  void run();
  // The reaper thread: frees what answered requests leave behind (batches, the decoders'
  // admission state, callbacks), which would otherwise cost the commit thread's time.
  void reap();
  void hand_to_reaper(std::vector<PendingTelemetry>& telemetry, CommitEvent& event);
  void commit(std::vector<PendingHeartbeat>& heartbeats, std::vector<PendingTelemetry>& telemetry,
              std::vector<StatusTransition>& transitions, bool flush_seen);
  // Completes every telemetry request with its ack and empties `telemetry`.
  void answer_telemetry(std::vector<PendingTelemetry>& telemetry, std::vector<TelemetryAck>& acks);
  // After telemetry is durable: auto-registers its devices and marks them seen.
  void observe_telemetry(const ReadingBatch& batch, int64_t received_ms,
                         std::vector<Device>& new_devices,
                         std::vector<StatusTransition>& transitions);
  // Collects the attributes of `batch` that differ from what the catalog holds (by the cache
  // below) into `out`; line-protocol type tags also change the tracker's type. True if any.
  bool collect_attributes(const ReadingBatch& batch, int64_t received_ms,
                          std::vector<DeviceAttribute>& out,
                          std::vector<StatusTransition>& transitions);
  // Any thread: true when every attribute of `batch` equals the value the catalog holds (by
  // the cache below), with the cache's epoch in `*epoch`.
  bool attributes_known(const ReadingBatch& batch, uint64_t* epoch) const;
  // Registers `id` in the tracker if unknown; false when auto-registration is off.
  bool ensure_device(const std::string& id, int64_t now_ms, const std::optional<std::string>& name,
                     const std::optional<std::string>& location, std::vector<Device>& new_devices);

  Catalog& catalog_;
  DeviceStatusTracker& tracker_;
  const Clock& clock_;
  const IngestorOptions options_;
  CardinalityLimits limits_;
  // Devices charged to the registration rate in the last minute (id -> when): a device in
  // several requests before its first commit is charged once. At most a minute's worth.
  std::mutex admitted_mu_;
  std::unordered_map<std::string, int64_t> admitted_;
  TransitionListener listener_;
  std::vector<CommitListener> commit_listeners_;
  CommitListener ack_barrier_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<PendingHeartbeat> queue_;            // guarded by mu_
  std::vector<PendingTelemetry> telemetry_queue_;  // guarded by mu_
  struct PendingPurge {
    std::optional<std::string> device;
    bool with_data = true;
    std::function<void(Status)> done;
  };
  std::vector<PendingPurge> purge_queue_;                 // guarded by mu_
  std::vector<std::function<void(Status)>> flush_queue_;  // guarded by mu_
  std::vector<std::pair<std::shared_ptr<ReadingBatch>, std::function<void(Status)>>>
      derived_queue_;                                 // guarded by mu_
  size_t queued_points_ = 0;                          // guarded by mu_
  std::vector<StatusTransition> queued_transitions_;  // guarded by mu_
  bool stopping_ = false;                             // guarded by mu_
  bool woken_ = false;                                // guarded by mu_
  std::thread thread_;
  std::mutex reap_mu_;
  std::condition_variable reap_cv_;
  std::vector<PendingTelemetry> reap_requests_;                    // reap_mu_
  std::vector<std::shared_ptr<const ReadingBatch>> reap_batches_;  // reap_mu_
  bool reap_stop_ = false;                                         // reap_mu_
  std::thread reaper_;
  tsdb::TimeSeriesStore* store_;
  // Last-seen times from telemetry not yet written to the catalog (commit thread only):
  // written every few seconds, since the WAL replay rebuilds them after a crash.
  std::unordered_map<std::string, DeviceLiveUpdate> dirty_seen_;
  int64_t last_seen_flush_ms_ = 0;
  // Commit thread only: server timestamps (created by start() when there is a store) and the
  // attribute values known to be in the catalog, by device then key (a device not in it yet
  // writes all its attributes once; removals forget it).
  std::optional<ServerTimestamps> stamps_;
  // attributes_ is written by the commit thread under an exclusive attributes_mu_ (each
  // change bumps attributes_epoch_) and read by submitting threads under a shared one.
  mutable std::shared_mutex attributes_mu_;
  std::unordered_map<std::string, std::unordered_map<std::string, std::string>> attributes_;
  uint64_t attributes_epoch_ = 0;
  std::unordered_map<std::string, size_t> group_attributes_;  // "device\0key" -> index

  std::atomic<uint64_t> heartbeats_{0}, rejected_{0}, commits_{0}, commit_errors_{0},
      auto_registered_{0}, pending_{0}, telemetry_batches_{0}, points_{0};
};

}  // namespace fp
