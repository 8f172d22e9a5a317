#include "cluster/lease_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace fp::cluster {
namespace {

using ::testing::ElementsAre;

LeasePlanInput Input(const std::string& self, uint32_t partitions, std::vector<std::string> live) {
  LeasePlanInput in;
  in.self = self;
  in.partitions = partitions;
  in.view.live_nodes = std::move(live);
  in.view.owners.assign(partitions, std::nullopt);
  in.now_ms = 100'000;
  in.grace_ms = 10'000;
  return in;
}

TEST(LeasePlanTest, FairShareIsCeiling) {
  EXPECT_EQ(FairShare(16, 3), 6u);
  EXPECT_EQ(FairShare(16, 2), 8u);
  EXPECT_EQ(FairShare(16, 1), 16u);
  EXPECT_EQ(FairShare(4, 8), 1u);
}

TEST(LeasePlanTest, TakesFreePartitionsItIsPreferredForAtOnce) {
  auto in = Input("b", 6, {"a", "b", "c"});
  EXPECT_THAT(PlanLeases(in).take, ElementsAre(1u, 4u));
}

TEST(LeasePlanTest, TakesOtherFreePartitionsOnlyAfterGraceAndBelowCap) {
  auto in = Input("b", 6, {"a", "b"});  // b prefers 1,3,5; cap 3
  in.view.owners[1] = "b";
  in.held = {1};
  in.view.owners[3] = "a";
  in.view.owners[5] = "a";
  in.free_since_ms = {{0, in.now_ms - 5'000}, {2, in.now_ms - 10'000}, {4, in.now_ms - 20'000}};
  auto plan = PlanLeases(in);
  EXPECT_THAT(plan.renew, ElementsAre(1u));
  EXPECT_THAT(plan.take, ElementsAre(2u, 4u));  // 0 not free long enough; cap 3 reached
}

TEST(LeasePlanTest, ReleasesSurplusAboveFairShareNonPreferredFirst) {
  auto in = Input("a", 4, {"a", "b"});  // a prefers 0 and 2; cap 2
  for (uint32_t p = 0; p < 4; ++p) in.view.owners[p] = "a";
  in.held = {0, 1, 2, 3};
  auto plan = PlanLeases(in);
  EXPECT_THAT(plan.renew, ElementsAre(0u, 2u));
  EXPECT_THAT(plan.release, ElementsAre(1u, 3u));
  EXPECT_TRUE(plan.take.empty());
}

TEST(LeasePlanTest, HeldPartitionOwnedByAnotherInTheBucketIsNeitherRenewedNorReleased) {
  auto in = Input("a", 2, {"a"});
  in.view.owners[0] = "x";  // e.g. a concurrent write won
  in.view.owners[1] = "a";
  in.held = {0, 1};
  auto plan = PlanLeases(in);
  EXPECT_THAT(plan.renew, ElementsAre(1u));
  EXPECT_TRUE(plan.release.empty());
  EXPECT_TRUE(plan.take.empty());
}

TEST(LeasePlanTest, SelfCountsAsLiveEvenWithoutAPresenceKey) {
  auto in = Input("a", 2, {});
  EXPECT_THAT(PlanLeases(in).take, ElementsAre(0u, 1u));
}

}  // namespace
}  // namespace fp::cluster
