#include "cluster/partition.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fp::cluster {
namespace {

// The published FNV-1a 64 test vectors; docs/cluster.md lists the same values.
TEST(PartitionTest, Fnv1a64MatchesReferenceVectors) {
  EXPECT_EQ(Fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(Fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(Fnv1a64("foobar"), 0x85944171f73967e8ULL);
}

// Device ids -> partition for 16 partitions, fixed forever (docs/cluster.md).
TEST(PartitionTest, DeviceIdsMapToDocumentedPartitions) {
  EXPECT_EQ(PartitionOf("sensor-001", 16), Fnv1a64("sensor-001") % 16);
  EXPECT_EQ(PartitionOf("sensor-001", 16), 9u);
  EXPECT_EQ(PartitionOf("sensor-002", 16), 0u);
  EXPECT_EQ(PartitionOf("truck-17", 16), 7u);
  EXPECT_EQ(PartitionOf("Ünïcode-device", 16), 4u);
  EXPECT_EQ(PartitionOf("sensor-001", 1), 0u);
}

TEST(PartitionTest, SpreadsManyDevicesEvenly) {
  std::vector<int> counts(16);
  for (int i = 0; i < 16000; ++i) ++counts[PartitionOf("dev-" + std::to_string(i), 16)];
  for (int c : counts) {
    EXPECT_GT(c, 800);
    EXPECT_LT(c, 1200);
  }
}

TEST(PartitionTest, UsesEveryByteOfTheId) {
  EXPECT_NE(Fnv1a64("dev-1"), Fnv1a64("dev-1 "));
  EXPECT_NE(Fnv1a64(std::string("a\0b", 3)), Fnv1a64("a"));
}

}  // namespace
}  // namespace fp::cluster
