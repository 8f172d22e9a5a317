#include "cluster/lease_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

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

// A dead node's partitions whose preferred node is full have another taker at once, not
// after the grace (that made the first failovers take two lease periods).
TEST(LeasePlanTest, EveryFreePartitionHasOneTakerAtOnceEvenWhenItsPreferredNodeIsFull) {
  std::vector<uint32_t> taken;
  for (const std::string self : {"b", "c"}) {
    auto in = Input(self, 8, {"b", "c"});  // a died: it held 0, 3, 6; cap 4
    for (uint32_t p : {1u, 4u, 7u}) in.view.owners[p] = "b";
    for (uint32_t p : {2u, 5u}) in.view.owners[p] = "c";
    in.held = self == "b" ? std::vector<uint32_t>{1, 4, 7} : std::vector<uint32_t>{2, 5};
    auto plan = PlanLeases(in);  // nothing free for the grace yet
    taken.insert(taken.end(), plan.take.begin(), plan.take.end());
    EXPECT_LE(plan.renew.size() + plan.take.size(), 4u) << self;
  }
  std::sort(taken.begin(), taken.end());
  EXPECT_THAT(taken, ElementsAre(0u, 3u, 6u));  // each once, by b or c
}

}  // namespace
}  // namespace fp::cluster
