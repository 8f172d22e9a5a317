#pragma once
// PlanLeases: the pure decision of one lease round — which partitions this node renews, takes
// and gives up — from what it read from the lease bucket. No I/O and no clock reads, so every
// rule is unit-tested with plain values. LeaseKeeper executes the plan.
//
// Spread policy (even, few moves): with M live nodes and N partitions a node holds at most
// cap = ceil(N / M). A node above cap releases its surplus (stops renewing; the lease expires
// after the TTL and a node below cap takes it). A free partition is taken at once by its
// taker: its preferred node (sorted live nodes [p % M]) when that node is below cap, else the
// live node below cap holding the fewest partitions (every node computes the same taker from
// the same view). Any other node below cap takes it once it has been seen free for
// `grace_ms`, so a partition whose taker does not act (views differ) is still taken.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace fp::cluster {

struct LeaseView {
  std::vector<std::string> live_nodes;             // node ids with a presence key (any order)
  std::vector<std::optional<std::string>> owners;  // [partition] -> owner in the bucket, or free
};

struct LeasePlanInput {
  std::string self;
  uint32_t partitions = 0;
  LeaseView view;
  // Nodes counted for the fair share though they have no presence key now (the view before a
  // bucket outage, while settling after it): they are assigned no free partition.
  std::vector<std::string> also_counted;
  std::vector<uint32_t> held;                 // partitions this node holds and still serves
  std::map<uint32_t, int64_t> free_since_ms;  // partition -> when this node first saw it free
  int64_t now_ms = 0;
  int64_t grace_ms = 0;
};

struct LeasePlan {
  std::vector<uint32_t> renew;    // held, keep: update by revision
  std::vector<uint32_t> release;  // held, give up: stop serving now, never renew again
  std::vector<uint32_t> take;     // free: try to create the lease key
};

// The largest number of partitions one of `live_nodes` nodes should hold (live_nodes >= 1).
uint32_t FairShare(uint32_t partitions, size_t live_nodes);

LeasePlan PlanLeases(const LeasePlanInput& in);

}  // namespace fp::cluster
