#pragma once
// LeaseKeeper: this node's side of partition ownership. Each Tick() (call it every TTL/4 or
// so) announces the node's presence, reads the lease bucket, and takes, renews or gives up
// partition leases as PlanLeases decides, through a LeaseKv.
//
// The rules that keep ownership exclusive (docs/cluster.md, "Ownership"):
// - a lease is taken only by Create (revision 0), renewed only by Update with the revision of
//   our own last write, and never deleted: a released lease simply expires after the TTL;
// - this node serves a partition only until its local deadline = (monotonic time at which the
//   last successful write of the lease was *sent*) + TTL - safety margin. The server's copy
//   expires no earlier than send time + TTL, so the deadline passes before anyone else can
//   create the key. A renew is never sent after the deadline; a lapsed lease is re-taken by
//   Create like any free one;
// - after each successful Create/Update the key is read back; if the latest revision is not
//   the one just written (nats-server issue 4320: compare-and-set above revision 0 is not
//   serialised in a 2.9 cluster before 2.9.21) the lease is given up at once.
//
// Thread safety: Tick() from one thread at a time; Serving()/Served() from any thread.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "cluster/lease_kv.h"
#include "util/clock.h"
#include "util/result.h"

namespace fp::cluster {

struct LeaseConfig {
  std::string node_id;           // [A-Za-z0-9_-]+, unique among live nodes
  std::string advertise;         // stored in the presence key (how other nodes reach us)
  uint32_t partitions = 16;      // fixed for the cluster
  int64_t ttl_ms = 20'000;       // the bucket's TTL (max age); see docs/cluster.md
  int64_t safety_margin_ms = 0;  // 0 = ttl / 3
  // For this long after a round that could not read the bucket, the nodes of the last view
  // before it count for the fair share even without a presence key (0 = ttl): when an outage
  // outlasted the TTL every presence key expired, and a node back first would otherwise see
  // itself alone, take every partition and release the surplus later, unowned for a TTL. What
  // is above the live nodes' shares waits for the others' presence, or for this to pass.
  int64_t settle_ms = 0;
};

// Key names in the lease bucket.
std::string PresenceKey(const std::string& node_id);  // "node.<id>"
std::string LeaseKey(uint32_t partition);             // "part.<p>"

// Whether `node_id` is usable as a node id (and hence in a KV key).
bool ValidNodeId(const std::string& node_id);

// The cluster as the last successful round read it from the lease bucket.
struct LeaseSnapshot {
  std::vector<std::pair<std::string, std::string>> nodes;  // (node id, advertise URL), by id
  std::vector<std::string> owners;                         // [partition] -> owner or ""
};

class LeaseKeeper {
 public:
  // `kv` and `clock` (monotonic) must outlive the keeper.
  LeaseKeeper(LeaseConfig config, LeaseKv& kv, const Clock& clock);

  // One round. kAlreadyExists when another live node uses this node id (this node then holds
  // nothing); kUnavailable when the bucket could not be read (held leases are still renewed
  // while their deadline allows). Ok otherwise.
  Status Tick();

  // Whether this node may serve `partition` now (holds it and its local deadline has not
  // passed).
  bool Serving(uint32_t partition) const;
  // The partitions Serving() is true for, ascending.
  std::vector<uint32_t> Served() const;
  // The local deadline of a held partition (monotonic ms), or -1 when not held.
  int64_t DeadlineMs(uint32_t partition) const;

  const LeaseConfig& config() const { return config_; }
  // The last view read from the bucket (empty before the first successful round).
  LeaseSnapshot Snapshot() const;
  // How often this node gained or lost a partition.
  uint64_t changes() const;

 private:
  struct Held {
    uint64_t revision = 0;
    int64_t deadline_ms = 0;
  };
  enum class WriteOutcome { kOk, kLost, kUnavailable };
  Status TickRound();
  Status KeepPresence();
  // Writes the lease (create when revision == 0, else update), reads it back and on success
  // sets `held_[partition]` with a new deadline. kLost: the store refused the write or shows
  // another revision (the caller stops serving); kUnavailable: no answer (the deadline stays).
  WriteOutcome WriteLease(uint32_t partition, uint64_t revision);

  const LeaseConfig config_;
  LeaseKv& kv_;
  const Clock& clock_;
  uint64_t presence_revision_ = 0;             // Tick thread only
  int64_t unavailable_at_ms_ = -1;             // Tick thread only: last round without a view
  std::vector<std::string> settling_nodes_;    // Tick thread only: the view before it
  std::map<uint32_t, int64_t> free_since_ms_;  // Tick thread only
  mutable std::mutex mu_;
  std::map<uint32_t, Held> held_;      // guarded by mu_
  LeaseSnapshot snapshot_;             // guarded by mu_
  uint64_t changes_ = 0;               // guarded by mu_
  std::vector<uint32_t> last_served_;  // Tick thread only
};

}  // namespace fp::cluster
