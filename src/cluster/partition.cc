#include "cluster/partition.h"

#include <cassert>

namespace fp::cluster {

uint64_t Fnv1a64(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

uint32_t PartitionOf(std::string_view device_id, uint32_t partitions) {
  assert(partitions > 0);
  return static_cast<uint32_t>(Fnv1a64(device_id) % partitions);
}

}  // namespace fp::cluster
