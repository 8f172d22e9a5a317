#pragma once
// AlertEngine: evaluates the alert rules against what the ingest path commits, keeps at most
// one open alert per (rule, device), runs the alert lifecycle (firing -> acknowledged ->
// resolved; resolved by itself when the condition clears) and persists every alert change.
//
// Feeding: the ingest commit thread calls submit(), which only moves the committed work into a
// bounded queue (dropped and counted when full: the commit thread never waits here). The
// engine's own thread evaluates it and, once a second, runs the timers (`for` durations,
// absence, offline-for). Tests drive evaluate() and tick() directly with a ManualClock.
//
// Persistence: each alert change is written to the catalog together with its webhook
// deliveries (see AlertOutbox) before listeners hear of it; absence timers restart from each
// device's last report (see set_device_source), so a restart does not forget silent devices.
//
// Locking: all rule and alert state is guarded by mu_; evaluation is in-memory and cheap.
// Catalog writes and listener calls happen after mu_ is released (an alert's `version` makes
// out-of-order writes of the same alert harmless). Listeners run on the thread that changed
// the alert (the engine thread, or an HTTP thread for API actions) and must not block.

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "alerting/rule.h"
#include "model/alert.h"
#include "model/device.h"
#include "model/reading_batch.h"
#include "storage/catalog/catalog.h"
#include "util/clock.h"

namespace fp {

// What a rule scope may ask about a device.
struct DeviceFacts {
  std::string type;
  std::string location;
};
using DeviceFactsLookup = std::function<std::optional<DeviceFacts>(const std::string& device_id)>;

struct AlertEngineOptions {
  double low_battery_pct = 20;    // low_battery rules without a threshold use this
  size_t max_queue = 4096;        // committed batches waiting for evaluation
  int64_t tick_ms = 1000;         // timer resolution of the engine thread
  int64_t facts_ttl_ms = 30'000;  // how long a device's type/location is cached for scopes
};

// A heartbeat as the engine sees it.
struct HeartbeatObservation {
  std::string device_id;
  std::optional<double> battery_level;
  int64_t received_ms = 0;  // server receive time; 0 = now
};

// One piece of committed work.
struct CommittedWork {
  std::vector<std::shared_ptr<const ReadingBatch>> batches;
  std::vector<HeartbeatObservation> heartbeats;
  std::vector<StatusTransition> transitions;
  // Server receive time of each batch (same index; missing or 0 = now). Absence rules count
  // silence from it, so a stream replayed by a new cluster owner re-arms their timers from
  // when the reports came, not from the replay.
  std::vector<int64_t> received_ms;
  bool empty() const { return batches.empty() && heartbeats.empty() && transitions.empty(); }
};

// A changed alert with what notifying about it needs.
struct AlertChange {
  Alert alert;
  std::string rule_name;              // empty for manual alerts
  std::vector<std::string> webhooks;  // the rule's notify targets
};

// Where the webhook deliveries of alert changes go (the WebhookNotifier). The engine stores
// what plan() returns in the same catalog transaction as the change, then hands the stored
// rows (ids assigned; id 0 when the write failed) to queued(). Both may be called from any
// thread that changes alerts, without the engine's lock held.
class AlertOutbox {
 public:
  virtual ~AlertOutbox() = default;
  virtual std::vector<WebhookDelivery> plan(const AlertChange& change) = 0;
  virtual void queued(std::vector<WebhookDelivery> deliveries) = 0;
};

// A registered device as absence rules see it when they (re)start watching: its scope facts
// and when it last reported (server time, as the status tracker knows it).
struct KnownDevice {
  std::string device_id;
  DeviceFacts facts;
  std::optional<int64_t> last_seen_ms;
};
using DeviceLister = std::function<std::vector<KnownDevice>()>;
// When `device` last sent `metric` (device time of its newest point), nullopt if never.
using MetricSeenLookup =
    std::function<std::optional<int64_t>(const std::string& device, const std::string& metric)>;

struct ManualAlert {
  std::string device_id;
  Severity severity = Severity::kWarning;
  std::string message;
  std::optional<double> value;
};

class AlertEngine {
 public:
  using Listener = std::function<void(const AlertChange&)>;

  // `catalog` and `clock` must outlive the engine. `facts` answers type/location for scoped
  // rules (may be null: such scopes then never match).
  AlertEngine(Catalog& catalog, const Clock& clock, DeviceFactsLookup facts,
              AlertEngineOptions options);
  ~AlertEngine();
  AlertEngine(const AlertEngine&) = delete;
  AlertEngine& operator=(const AlertEngine&) = delete;

  // Loads the stored rules and open alerts. `defaults` (from the configuration) are stored
  // the first time only, so an operator may delete or change them for good.
  Status load(std::span<const Rule> defaults);
  // Called after every persisted alert change. Add before start().
  void add_listener(Listener fn);
  // Webhook deliveries are stored with each change and handed to `outbox` (which must
  // outlive the engine). Set before load().
  void set_outbox(AlertOutbox* outbox) { outbox_ = outbox; }
  // Lets absence rules watch every device in their scope from its last report, not only
  // devices that report after the start (or after the rule was created): load(), create_rule
  // and replace_rule start a timer for each listed device that reported (for a metric rule:
  // that sent the metric). Set before load(); either may be null.
  void set_device_source(DeviceLister list, MetricSeenLookup metric_seen) {
    list_devices_ = std::move(list);
    metric_seen_ = std::move(metric_seen);
  }

  // Cluster mode (docs/cluster.md): the timers (`for` durations, absence) run only for the
  // devices `owned` answers true for (the partitions this node serves now), so a node that
  // lost a partition raises no alert (and sends no webhook) for its devices. Unset = every
  // device (single node). May be set at any time; `owned` runs under the engine's lock.
  void set_owner_filter(std::function<bool(const std::string& device_id)> owned);

  // Cluster mode: new alerts get their id from `next_id(device_id, now_ms)` (cluster-wide
  // ids, docs/cluster.md) instead of the local counter. Unset = 1, 2, 3, ... (single node).
  // May be set at any time; `next_id` runs under the engine's lock and must not block.
  void set_id_allocator(
      std::function<int64_t(const std::string& device_id, int64_t now_ms)> next_id);

  // Cluster mode, on gaining partitions (docs/cluster.md, "Alerts across a failover"): the
  // open alerts of the devices `in_scope` takes become exactly `carried` (what the
  // partitions' previous owner left in the cluster's alert bucket). A carried rule alert this
  // engine does not have open is stored under its carried id (a new id when it has none or
  // the id is taken) and its track made active, so the condition holding on does not raise it
  // again and its clearing resolves it once; a carried manual alert (no rule) is stored under
  // its id. An open alert here with a newer carried version (acknowledged meanwhile) takes the
  // carried state. An open alert of its own that is not carried was resolved by another owner
  // meanwhile and is closed ("cluster"). No webhook and no listener call for any of these:
  // nothing changed for the outside world. Carried alerts of unknown rules are skipped.
  // `in_scope` runs under the engine's lock.
  void adopt(const std::function<bool(const std::string& device_id)>& in_scope,
             const std::vector<Alert>& carried);

  void start();
  void stop();  // evaluates what is queued, then joins the thread

  // Rules: the catalog is written first; kNotFound / kAlreadyExists as usual.
  std::vector<Rule> rules() const;
  Result<Rule> rule(const std::string& id) const;
  Result<Rule> create_rule(Rule r);
  Result<Rule> replace_rule(Rule r);
  Status delete_rule(const std::string& id);

  // Alert actions from the API. kNotFound for an unknown id; kAlreadyExists (409) when the
  // alert is already resolved.
  Result<Alert> raise(const ManualAlert& m);
  Result<Alert> acknowledge(int64_t id, const std::string& by, const std::string& note);
  Result<Alert> resolve(int64_t id, const std::string& by, const std::string& note);

  // Forgets every alert and what each rule learned (after the catalog's data was wiped);
  // the rules stay.
  void forget_alerts();
  // A device was removed: its open alerts are resolved ("device_deleted"), its tracks dropped.
  void forget_device(const std::string& device_id);

  // Open (firing or acknowledged) alerts per severity, indexed by Severity.
  std::array<int64_t, kSeverityCount> open_counts() const;
  int64_t open_total() const;

  // Non-blocking hand-over from the commit thread; false (and counted) when the queue is full.
  bool submit(CommittedWork work);
  uint64_t dropped() const;
  uint64_t persist_errors() const;

  // Synchronous evaluation at the clock's current time (the engine thread; tests).
  void evaluate(const CommittedWork& work);
  // Runs the timers: `for` durations that have now passed, absence, offline-for.
  void tick();

 private:
  struct Track {
    bool active = false;                   // the condition holds and has fired (until it clears)
    std::optional<int64_t> pending_since;  // condition true since, waiting for `for`
    double pending_value = 0;
    int64_t pending_condition_at = 0;  // when the pending condition happened
    int64_t open_alert = 0;            // the open alert for this (rule, device), 0 if none
    // Series memory of the kinds that need it.
    bool has_last = false;
    double last_value = 0;
    int64_t last_ts = 0;         // rate: device time of last_value
    int64_t last_change_ms = 0;  // stuck: server time the value last moved
    int64_t last_seen_ms = 0;    // absence: server time of the last matching report
    double mean = 0, var = 0;    // anomaly: EWMA mean and variance
    int samples = 0;
  };
  struct RuleEntry {
    Rule rule;
    std::unordered_map<std::string, Track> tracks;  // by device id
  };
  using Changes = std::vector<AlertChange>;

  void run();
  void prefetch_facts(const CommittedWork& work);                           // mu_ NOT held
  void rebuild_index();                                                     // mu_ held
  bool in_scope(const Rule& r, const std::string& device_id, int64_t now);  // mu_ held
  void observe_value(RuleEntry& e, const std::string& device, double value, int64_t ts_ms,
                     int64_t now, Changes& out);  // mu_ held
  // Absence bookkeeping: a report (of anything) from `device` received at `seen`, or a reading
  // for rule `e`. A report older than the open alert's condition (a replay) does not clear it.
  void observe_report(const std::string& device, int64_t seen, int64_t now,
                      Changes& out);  // mu_ held
  void mark_seen(RuleEntry& e, const std::string& device, int64_t seen, int64_t now, Changes& out);
  // `condition_at`: when the condition (if true) happened, e.g. the reading's own time.
  void apply(RuleEntry& e, const std::string& device, Track& t, std::optional<bool> condition,
             double value, int64_t condition_at, int64_t now, Changes& out);  // mu_ held
  void fire(RuleEntry& e, const std::string& device, Track& t, double value, int64_t condition_at,
            int64_t now, Changes& out);  // mu_ held
  // Absence rules: a timer for every listed device in scope that has reported (calls
  // metric_seen_, which reads memory only).
  void watch_known_devices(RuleEntry& e, const std::vector<KnownDevice>& devices);  // mu_ held
  void close_alert(Alert& a, const std::string& by, const std::string& note, int64_t now,
                   Changes& out);                // mu_ held; also forgets it in open_
  AlertChange change_for(const Alert& a) const;  // mu_ held
  void resolve_rule_alerts(RuleEntry& e, const std::string& by, int64_t now, Changes& out);
  void publish(Changes& changes);  // mu_ NOT held: persists, then tells the listeners

  // Constant after construction.
  Catalog& catalog_;
  const Clock& clock_;
  const DeviceFactsLookup facts_;
  const AlertEngineOptions options_;
  std::vector<Listener> listeners_;  // set before start()
  AlertOutbox* outbox_ = nullptr;    // set before load()
  DeviceLister list_devices_;        // set before load()
  MetricSeenLookup metric_seen_;     // set before load()

  mutable std::mutex mu_;
  std::map<std::string, RuleEntry> rules_;                              // guarded by mu_
  std::unordered_map<std::string, std::vector<RuleEntry*>> by_metric_;  // guarded by mu_
  std::vector<RuleEntry*> report_rules_;     // absence without metric; guarded by mu_
  std::vector<RuleEntry*> battery_rules_;    // low_battery; guarded by mu_
  std::vector<RuleEntry*> status_rules_;     // offline; guarded by mu_
  std::unordered_map<int64_t, Alert> open_;  // open alerts by id; guarded by mu_
  int64_t next_alert_id_ = 1;                // guarded by mu_

  std::function<bool(const std::string&)> owned_;  // guarded by mu_; empty = every device
  std::function<int64_t(const std::string&, int64_t)> next_id_;     // guarded by mu_; empty = local
  int64_t new_alert_id(const std::string& device_id, int64_t now);  // mu_ held
  struct CachedFacts {
    std::optional<DeviceFacts> facts;
    int64_t fetched_ms = 0;
  };
  // Filled outside mu_ (the lookup may read the catalog) and read under it.
  mutable std::mutex facts_mu_;
  std::unordered_map<std::string, CachedFacts> facts_cache_;  // guarded by facts_mu_
  std::atomic<bool> scoped_rules_{false};  // some rule scopes by type or location

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<CommittedWork> queue_;  // guarded by queue_mu_
  bool stopping_ = false;            // guarded by queue_mu_
  std::thread thread_;
  std::atomic<uint64_t> dropped_{0}, persist_errors_{0};
};

}  // namespace fp
