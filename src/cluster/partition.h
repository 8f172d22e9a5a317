#pragma once
// The partition function of cluster mode: which partition a device belongs to. Every node and
// every tool must compute the same answer, so the function is fixed and specified in
// docs/cluster.md with test vectors: FNV-1a 64 over the UTF-8 bytes of device_id, mod N.

#include <cstdint>
#include <string_view>

namespace fp::cluster {

// FNV-1a, 64 bit (offset basis 0xcbf29ce484222325, prime 0x100000001b3) over `bytes`.
uint64_t Fnv1a64(std::string_view bytes);

// The partition of `device_id` in a cluster of `partitions` partitions (> 0):
// Fnv1a64(device_id) % partitions. Never changes for a given cluster: the partition count is
// fixed when the cluster is created.
uint32_t PartitionOf(std::string_view device_id, uint32_t partitions);

}  // namespace fp::cluster
