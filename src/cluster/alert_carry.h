#pragma once
// AlertCarry: the open alerts of each partition, kept in the JetStream KV bucket
// "fleetpulse_alerts" (file storage, --replicas, history 1, no TTL) so that a partition's next
// owner continues them instead of raising them again (docs/cluster.md, "Alerts across a
// failover"). Key `a.<partition>.<hex rule id>.<hex device id>` for a rule alert,
// `a.<partition>.m.<id>` for a manual one; value the alert (carried_alert.h, with its
// cluster-wide id) while it is open, deleted when it resolves.
//
// Writing: Record() is an alert listener (it must not block): it queues the alert's newest
// state; one thread writes the queue in order, only for partitions this node serves at that
// moment (an ex-owner never overwrites its successor's entries), retrying a failed write while
// it still serves the partition. Reading: OpenAlerts() on gaining partitions, before their
// consumers start (AlertEngine::adopt then takes them over).
//
// Survives: the bucket (replicated by JetStream). What can repeat: an alert raised (or
// resolved) less than one bucket write before its owner dies is raised (resolved) again by
// the next owner — at-least-once, as webhooks are.
//
// API actions (raise, acknowledge, resolve) wait for their write (WaitWritten) before the
// client is answered, so an answered action survives kill -9 of the owner right after it.
//
// Thread safety: Record(), set_serves(), NewAlertId() and WaitWritten() from any thread;
// OpenAlerts() and OnOwnershipChange() from one thread at a time (the ownership-change thread).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/alert.h"
#include "util/result.h"

namespace fp {
class AlertEngine;
}

namespace fp::cluster {

struct AlertCarryOptions {
  std::vector<std::string> nats;
  int replicas = 3;
  uint32_t partitions = 16;
  // OpenAlerts() in all; it runs on ClusterNode's takeover thread (never the lease thread).
  int64_t read_timeout_ms = 2'000;
};

class AlertCarry {
 public:
  static Result<std::unique_ptr<AlertCarry>> Start(const AlertCarryOptions& o);
  ~AlertCarry();
  AlertCarry(const AlertCarry&) = delete;
  AlertCarry& operator=(const AlertCarry&) = delete;

  // Whether this node serves `device_id`'s partition now; until set, nothing is written.
  void set_serves(std::function<bool(std::string_view device_id)> serves);
  // Queues the newest state of an alert (rule or manual).
  void Record(const Alert& a);
  // Waits until the writer has handled `a` (or a newer version of it): ok when it is in the
  // bucket; kUnavailable when it was not written within `timeout_ms` (no quorum) or this node
  // no longer serves its partition. For API actions, after the engine changed the alert.
  Status WaitWritten(const Alert& a, int64_t timeout_ms);
  // A new cluster-wide alert id for `device_id` at wall time `now_ms` (carried_alert.h
  // ClusterAlertIds): AlertEngine::set_id_allocator.
  int64_t NewAlertId(std::string_view device_id, int64_t now_ms);
  // The open alerts stored for `partitions`; an error when the bucket did not answer in time.
  Result<std::vector<Alert>> OpenAlerts(const std::vector<uint32_t>& partitions);
  // ClusterNodeOptions::on_ownership_change (the takeover thread, before the gained partitions'
  // consumers start): reads the gained partitions' open alerts and hands them to
  // `engine.adopt`. The first call also adopts for every partition not reported lost (the
  // node's first round reports only losses). When the bucket does not answer in time nothing
  // is adopted (logged): the new owner may then raise an alert again (at-least-once).
  void OnOwnershipChange(AlertEngine& engine, const std::vector<uint32_t>& gained,
                         const std::vector<uint32_t>& lost);
  // Writes what is queued (bounded by `timeout_ms`), then stops the writer.
  void Stop(int64_t timeout_ms = 1'000);

  // Entries written / refused (counted, for tests and logs).
  uint64_t written() const;

  struct Impl;

 private:
  explicit AlertCarry(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fp::cluster
