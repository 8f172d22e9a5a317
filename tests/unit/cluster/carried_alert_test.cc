// A carried alert (the "fleetpulse_alerts" bucket's value): round trip, damaged input refused.
#include "cluster/carried_alert.h"

#include <gtest/gtest.h>

namespace fp::cluster {
namespace {

TEST(CarriedAlert, RoundTrips) {
  Alert a;
  a.id = 42;  // node-local: not carried
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
  EXPECT_EQ(b->id, 0);
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
  a.rule_id.clear();  // manual alerts are not carried
  EXPECT_FALSE(DecodeCarriedAlert(EncodeCarriedAlert(a)).ok());
  a.rule_id = "r";
  a.version = 0;
  EXPECT_FALSE(DecodeCarriedAlert(EncodeCarriedAlert(a)).ok());
}

TEST(CarriedAlert, KeysAreValidKvKeysPerPartition) {
  EXPECT_EQ(CarriedAlertKey(3, "off", "a.b"), "a.3.6f6666.612e62");
}

}  // namespace
}  // namespace fp::cluster
