// A carried alert (the "fleetpulse_alerts" bucket's value): round trip, damaged input refused.
#include "cluster/carried_alert.h"

#include <gtest/gtest.h>

#include <set>

namespace fp::cluster {
namespace {

TEST(CarriedAlert, RoundTrips) {
  Alert a;
  a.id = 42;  // the cluster-wide id: carried
  a.rule_id = "hot";
  a.device_id = "dev \"1\"";
  a.severity = Severity::kCritical;
  a.state = AlertState::kAcknowledged;
  a.message = "temp 40 > 30";
  a.value = 40.5;
  a.started_at_ms = 1000;
  a.condition_at_ms = 900;
  a.acknowledged_at_ms = 1500;
  a.acknowledged_by = "alice";
  a.note = "on it";
  a.updated_at_ms = 1500;
  a.version = 2;
  auto b = DecodeCarriedAlert(EncodeCarriedAlert(a));
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->id, 42);
  EXPECT_EQ(b->rule_id, a.rule_id);
  EXPECT_EQ(b->device_id, a.device_id);
  EXPECT_EQ(b->severity, a.severity);
  EXPECT_EQ(b->state, a.state);
  EXPECT_EQ(b->message, a.message);
  EXPECT_EQ(b->value, a.value);
  EXPECT_EQ(b->started_at_ms, a.started_at_ms);
  EXPECT_EQ(b->condition_at_ms, a.condition_at_ms);
  EXPECT_EQ(b->acknowledged_at_ms, a.acknowledged_at_ms);
  EXPECT_EQ(b->acknowledged_by, a.acknowledged_by);
  EXPECT_EQ(b->note, a.note);
  EXPECT_EQ(b->updated_at_ms, a.updated_at_ms);
  EXPECT_EQ(b->version, a.version);
  a.value.reset();
  a.acknowledged_at_ms.reset();
  b = DecodeCarriedAlert(EncodeCarriedAlert(a));
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->value || b->acknowledged_at_ms);
}

TEST(CarriedAlert, RefusesDamagedOrResolved) {
  Alert a;
  a.rule_id = "r";
  a.device_id = "d";
  a.version = 1;
  const std::string good = EncodeCarriedAlert(a);
  ASSERT_TRUE(DecodeCarriedAlert(good).ok());
  for (std::string bad : {std::string(""), std::string("[]"), good.substr(0, good.size() - 1),
                          std::string(R"({"rule_id":"r"})")})
    EXPECT_FALSE(DecodeCarriedAlert(bad).ok()) << bad;
  a.state = AlertState::kResolved;
  EXPECT_FALSE(DecodeCarriedAlert(EncodeCarriedAlert(a)).ok());
  a.state = AlertState::kFiring;
  a.rule_id.clear();  // a manual alert needs its id
  EXPECT_FALSE(DecodeCarriedAlert(EncodeCarriedAlert(a)).ok());
  for (std::string bad : {R"({"id":0,"rule_id":"","device_id":"d","severity":"info",)",
                          R"({"id":-4,"rule_id":"","device_id":"d","severity":"info",)",
                          R"({"id":"7","rule_id":"","device_id":"d","severity":"info",)"})
    EXPECT_FALSE(DecodeCarriedAlert(bad + R"("state":"firing","message":"m","started_at":1,)"
                                          R"("condition_at":1,"acknowledged_by":"","note":"",)"
                                          R"("updated_at":1,"version":1})")
                     .ok())
        << bad;
  a.rule_id = "r";
  a.version = 0;
  EXPECT_FALSE(DecodeCarriedAlert(EncodeCarriedAlert(a)).ok());
}

TEST(CarriedAlert, KeysAreValidKvKeysPerPartition) {
  EXPECT_EQ(CarriedAlertKey(3, "off", "a.b"), "a.3.6f6666.612e62");
  Alert a;
  a.id = 35;
  a.rule_id = "off";
  a.device_id = "a.b";
  EXPECT_EQ(CarriedAlertKey(3, a), "a.3.6f6666.612e62");
  a.rule_id.clear();
  EXPECT_EQ(CarriedAlertKey(3, a), "a.3.m.35");
}

// A manual alert (no rule) is carried with its id, so the next owner keeps the id the client
// was given.
TEST(CarriedAlert, ManualAlertRoundTripsWithItsId) {
  Alert a;
  a.id = 1'234'567'890'123;
  a.device_id = "pump-7";
  a.severity = Severity::kInfo;
  a.message = "raised by hand";
  a.started_at_ms = a.condition_at_ms = a.updated_at_ms = 5;
  a.version = 1;
  auto b = DecodeCarriedAlert(EncodeCarriedAlert(a));
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->id, a.id);
  EXPECT_TRUE(b->rule_id.empty());
  EXPECT_EQ(b->device_id, "pump-7");
}

// Cluster ids name their partition, grow with time and never repeat on one node, also many
// in one millisecond; a later owner's ids (a later clock) are above an earlier owner's.
TEST(ClusterAlertIds, NameThePartitionAndNeverRepeat) {
  constexpr uint32_t kN = 16;
  ClusterAlertIds ids(kN);
  std::set<int64_t> seen;
  for (int i = 0; i < 100; ++i) {
    const uint32_t p = static_cast<uint32_t>(i) % kN;
    const int64_t id = ids.Next(p, 1'800'000'000'000);
    EXPECT_EQ(PartitionOfAlertId(id, kN), p);
    EXPECT_GE(id, static_cast<int64_t>(kN));
    EXPECT_TRUE(seen.insert(id).second) << id;
  }
  ClusterAlertIds later(kN);
  EXPECT_GT(later.Next(0, 1'800'000'000'010), *seen.rbegin());
}

}  // namespace
}  // namespace fp::cluster
