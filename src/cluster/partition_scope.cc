#include "cluster/partition_scope.h"

#include <spdlog/spdlog.h>

#include <limits>
#include <string>

#include "cluster/partition.h"
#include "monitor/device_status_tracker.h"
#include "storage/catalog/catalog.h"

namespace fp::cluster {

void PartitionScope::Apply(const std::vector<uint32_t>& gained, const std::vector<uint32_t>& lost) {
  std::vector<bool> is_lost(partitions_, false), is_gained(partitions_, false);
  for (uint32_t p : lost)
    if (p < partitions_) is_lost[p] = true;
  for (uint32_t p : gained)
    if (p < partitions_) is_gained[p] = true;
  // Every device this node knows is in its catalog (registered on the commit path).
  auto devices = catalog_.load_all_devices();
  if (!devices.ok()) {
    spdlog::warn("event=cluster_partition_scope_failed reason=\"{}\"", devices.status().message());
    return;
  }
  size_t untracked = 0;
  for (const Device& d : *devices) {
    if (!is_lost[PartitionOf(d.device_id, partitions_)] || !tracker_.contains(d.device_id))
      continue;
    tracker_.remove(d.device_id);
    ++untracked;
  }
  if (untracked > 0)
    spdlog::info("event=cluster_partitions_released devices_untracked={}", untracked);
  std::vector<StatusTransition> transitions;
  for (const Device& d : *devices) {
    if (!is_gained[PartitionOf(d.device_id, partitions_)] || tracker_.contains(d.device_id))
      continue;
    if (auto t = tracker_.add(d)) transitions.push_back(std::move(*t));
  }
  if (transitions.empty()) return;
  if (Status s = catalog_.apply_reports({}, {}, transitions); !s.ok())
    spdlog::warn("event=cluster_partition_scope_failed reason=\"{}\"", s.message());
  submit_(std::move(transitions));
}

}  // namespace fp::cluster
