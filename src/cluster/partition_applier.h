#pragma once
// PartitionApplier: the owner side of cluster mode. For every partition this node serves
// (LeaseKeeper), an ordered push consumer of the partition's stream feeds each share to the
// local Ingestor (telemetry, heartbeat, removal) or, for a device change, to `apply_device`
// (after every earlier share of the partition is acknowledged, so the catalog sees them in
// stream order), starting after the partition's applied
// checkpoint. A share counts as applied when the Ingestor has acknowledged it (it is in the
// WAL); the checkpoint (applied_checkpoint.h) is saved from those acknowledgements only. A
// message for a partition the node no longer serves is not applied: the consumer is stopped
// at the next Reconcile(). A share that fails to apply (Ingestor overloaded, disk error)
// stops the consumer, and the next Reconcile() restarts it from the checkpoint. Replays are
// harmless: applying a share twice changes nothing.
//
// Thread safety: Reconcile() and StopAll() from one thread; the accessors from any thread.

#include <nats/nats.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cluster/applied_checkpoint.h"
#include "cluster/lease_keeper.h"
#include "ingest/ingestor.h"

namespace fp::cluster {

class PartitionApplier {
 public:
  // A device change applied to this node's catalog and tracker (device_apply.h, idempotent);
  // kNotFound (an update of a device removed meanwhile) counts as applied.
  using DeviceSink = std::function<Status(const DeviceChange&)>;
  // Everything must outlive the applier.
  PartitionApplier(natsConnection* nc, Ingestor& ingestor, const LeaseKeeper& keeper,
                   std::string checkpoint_path, uint32_t partitions, DeviceSink apply_device);
  ~PartitionApplier();

  // Loads the checkpoint (a damaged one is set aside: those partitions replay from the start).
  Status Open();
  // Starts consumers for `served` partitions that have none (or whose consumer failed; the
  // creations run in parallel, each bounded by the JetStream timeout of 5 s), stops the
  // others, and saves the checkpoint when it moved.
  void Reconcile(const std::vector<uint32_t>& served);
  void StopAll();

  // The last stream sequence made durable locally for `partition` (0: none).
  uint64_t Applied(uint32_t partition) const;
  bool Running(uint32_t partition) const;
  // Runs `then` (once, on some internal thread, unlocked) when `seq` of `partition` is applied
  // here, when the partition's consumer stops, or after `timeout_ms` — whichever comes first;
  // at once when no consumer runs for it now.
  void WhenApplied(uint32_t partition, uint64_t seq, int64_t timeout_ms,
                   std::function<void()> then);
  uint64_t damaged() const { return damaged_.load(); }

 private:
  struct Part;
  // The callback closure of one subscription: its messages count only while `generation` is
  // the partition's current one (a stopped consumer's late callbacks change nothing).
  struct Subscription {
    Part* part = nullptr;
    uint64_t generation = 0;
  };
  struct Part {
    PartitionApplier* owner = nullptr;
    uint32_t partition = 0;
    natsSubscription* sub = nullptr;  // Reconcile thread only
    std::atomic<bool> active{false};
    std::atomic<bool> failed{false};
    std::atomic<uint64_t> applied{0};
    std::mutex mu;
    std::condition_variable cv;
    uint64_t generation = 0;      // guarded by mu: bumped at each start
    uint64_t submitted = 0;       // guarded by mu: highest sequence handed to the Ingestor
    std::set<uint64_t> inflight;  // guarded by mu: handed over, not acknowledged yet
    struct Waiter {
      uint64_t seq;
      int64_t deadline_ms;
      std::function<void()> then;
    };
    std::vector<Waiter> waiters;  // guarded by mu: WhenApplied callers not answered yet
    std::vector<std::unique_ptr<Subscription>> closures;  // Reconcile thread; kept to the end
  };
  static void OnMsg(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* closure);
  void Apply(Part& part, uint64_t generation, uint64_t seq, natsMsg* msg);
  void Start(Part& part);
  void Stop(Part& part);
  void SaveIfMoved();
  // Takes the waiters of `part` that are done (applied, or all with `all`, or past deadline);
  // mu held.
  static std::vector<std::function<void()>> TakeWaiters(Part& part, bool all, int64_t now_ms);

  natsConnection* nc_;
  Ingestor& ingestor_;
  const LeaseKeeper& keeper_;
  const DeviceSink apply_device_;
  const std::string checkpoint_path_;
  const uint32_t partitions_;
  jsCtx* js_ = nullptr;
  std::vector<std::shared_ptr<Part>> parts_;  // [partition], fixed after Open()
  AppliedCheckpoint saved_;                   // Reconcile thread only
  std::atomic<uint64_t> damaged_{0};
};

}  // namespace fp::cluster
