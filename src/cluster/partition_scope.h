#pragma once
// PartitionScope: keeps a node's status tracker to the partitions it serves, so offline
// deadlines (and the offline alerts that follow from status transitions) run on the owner
// only. When the node loses partitions, their devices leave the tracker: a node that lost its
// lease while alive (SIGSTOP/CONT, surplus released to a joining node) no longer marks them
// offline. When it gains partitions, their devices known to its catalog (as of its applied
// checkpoint) join the tracker before the stream replays what came after, so a device silent
// across the move still goes offline on the new owner; transitions that this causes at once
// are recorded in the catalog and handed to the alert engine, like the ones found at start.
//
// Thread safety: Apply() from the cluster node's takeover thread only.

#include <cstdint>
#include <functional>
#include <vector>

#include "model/device.h"

namespace fp {
class Catalog;
class DeviceStatusTracker;
}  // namespace fp

namespace fp::cluster {

class PartitionScope {
 public:
  using SubmitTransitions = std::function<void(std::vector<StatusTransition>)>;
  // Each reference must outlive the scope.
  PartitionScope(Catalog& catalog, DeviceStatusTracker& tracker, SubmitTransitions submit,
                 uint32_t partitions)
      : catalog_(catalog), tracker_(tracker), submit_(std::move(submit)), partitions_(partitions) {}

  void Apply(const std::vector<uint32_t>& gained, const std::vector<uint32_t>& lost);

 private:
  Catalog& catalog_;
  DeviceStatusTracker& tracker_;
  SubmitTransitions submit_;
  const uint32_t partitions_;
};

}  // namespace fp::cluster
