// The MQTT part of the catalog (schema v6): persistent sessions and the push queue, each
// stored, reopened (as after a restart) and read back.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "storage/catalog/catalog.h"
#include "unit/temp_dir.h"

namespace fp {
namespace {

class CatalogMqttTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("fp_catmqtt_");
    reopen();
  }
  void TearDown() override {
    catalog_.reset();
    std::filesystem::remove_all(dir_);
  }
  void reopen() {
    catalog_.reset();
    auto c = Catalog::open((dir_ / "catalog.db").string(), clock_);
    ASSERT_TRUE(c.ok()) << c.status().message();
    catalog_ = std::move(c).value();
  }
  QueuedPush push(const std::string& device, const std::string& payload, int64_t ttl = 60'000) {
    QueuedPush p;
    p.device_id = device;
    p.topic = "devices/" + device + "/commands";
    p.payload = payload;
    p.created_at_ms = clock_.now_ms();
    p.expires_at_ms = clock_.now_ms() + ttl;
    return p;
  }
  std::vector<std::string> payloads(const std::string& device) {
    auto got = catalog_->pending_pushes("devices/" + device + "/commands", clock_.now_ms(), 100);
    EXPECT_TRUE(got.ok()) << got.status().message();
    std::vector<std::string> out;
    for (const auto& p : *got) out.push_back(p.payload);
    return out;
  }

  std::filesystem::path dir_;
  ManualClock clock_;
  std::unique_ptr<Catalog> catalog_;
};

TEST_F(CatalogMqttTest, SessionWithSubscriptionsSurvivesReopen) {
  MqttSessionRecord s;
  s.client_id = "c1";
  s.device_id = "d1";
  s.expiry_ms = 300'000;
  s.subscriptions = {{"devices/d1/commands", 1}, {"devices/d1/config", 0}};
  ASSERT_TRUE(catalog_->put_mqtt_session(s).ok());
  reopen();
  auto all = catalog_->load_mqtt_sessions();
  ASSERT_TRUE(all.ok()) << all.status().message();
  ASSERT_EQ(all->size(), 1u);
  const MqttSessionRecord& r = all->front();
  EXPECT_EQ(r.client_id, "c1");
  EXPECT_EQ(r.device_id, "d1");
  EXPECT_EQ(r.expiry_ms, 300'000);
  EXPECT_EQ(r.expires_at_ms, INT64_MAX) << "connected sessions are stored without an end";
  ASSERT_EQ(r.subscriptions.size(), 2u);
  EXPECT_EQ(r.subscriptions[0], (std::pair<std::string, uint8_t>{"devices/d1/commands", 1}));
  EXPECT_EQ(r.subscriptions[1], (std::pair<std::string, uint8_t>{"devices/d1/config", 0}));
}

TEST_F(CatalogMqttTest, StoringASessionAgainReplacesItsSubscriptions) {
  MqttSessionRecord s;
  s.client_id = "c1";
  s.subscriptions = {{"a", 1}, {"b", 1}};
  ASSERT_TRUE(catalog_->put_mqtt_session(s).ok());
  s.subscriptions = {{"b", 0}};
  s.expires_at_ms = 42;
  ASSERT_TRUE(catalog_->put_mqtt_session(s).ok());
  auto all = catalog_->load_mqtt_sessions();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->front().expires_at_ms, 42);
  ASSERT_EQ(all->front().subscriptions.size(), 1u);
  EXPECT_EQ(all->front().subscriptions[0].second, 0);
}

TEST_F(CatalogMqttTest, DeletedSessionTakesItsSubscriptionsAlong) {
  MqttSessionRecord s;
  s.client_id = "c1";
  s.subscriptions = {{"a", 1}};
  ASSERT_TRUE(catalog_->put_mqtt_session(s).ok());
  ASSERT_TRUE(catalog_->delete_mqtt_session("c1").ok());
  ASSERT_TRUE(catalog_->delete_mqtt_session("never").ok());
  s.subscriptions.clear();
  ASSERT_TRUE(catalog_->put_mqtt_session(s).ok());
  auto all = catalog_->load_mqtt_sessions();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_TRUE(all->front().subscriptions.empty());
}

TEST_F(CatalogMqttTest, QueuedPushesComeBackInOrderAfterReopenWithAttempts) {
  PushQueueLimits limits;
  for (const char* body : {"1", "2", "3"}) {
    QueuedPush p = push("d1", body);
    auto id = catalog_->enqueue_push(p, limits, clock_.now_ms(), false, nullptr);
    ASSERT_TRUE(id.ok()) << id.status().message();
    EXPECT_EQ(p.id, *id);
  }
  auto first = catalog_->pending_pushes("devices/d1/commands", clock_.now_ms(), 10);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(catalog_->mark_push_sent((*first)[0].id).ok());
  ASSERT_TRUE(catalog_->delete_push((*first)[1].id).ok());
  reopen();
  auto got = catalog_->pending_pushes("devices/d1/commands", clock_.now_ms(), 10);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].payload, "1");
  EXPECT_EQ((*got)[0].attempts, 1);
  EXPECT_EQ((*got)[1].payload, "3");
  EXPECT_EQ((*got)[1].attempts, 0);
  EXPECT_LT((*got)[0].id, (*got)[1].id);
}

TEST_F(CatalogMqttTest, QueueIsBoundedPerDeviceAndInTotal) {
  PushQueueLimits limits{2, 3};
  QueuedPush p = push("d1", "a");
  ASSERT_TRUE(catalog_->enqueue_push(p, limits, clock_.now_ms(), false, nullptr).ok());
  p = push("d1", "b");
  ASSERT_TRUE(catalog_->enqueue_push(p, limits, clock_.now_ms(), false, nullptr).ok());
  p = push("d1", "c");
  auto full = catalog_->enqueue_push(p, limits, clock_.now_ms(), false, nullptr);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.status().code(), StatusCode::kOverloaded);
  p = push("d2", "a");
  ASSERT_TRUE(catalog_->enqueue_push(p, limits, clock_.now_ms(), false, nullptr).ok());
  p = push("d2", "b");
  auto total = catalog_->enqueue_push(p, limits, clock_.now_ms(), false, nullptr);
  ASSERT_FALSE(total.ok());
  EXPECT_EQ(total.status().code(), StatusCode::kOverloaded);
  EXPECT_EQ(payloads("d1"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(payloads("d2"), (std::vector<std::string>{"a"}));
}

TEST_F(CatalogMqttTest, ExpiredPushesAreNotPendingAndAreCountedWhenRemoved) {
  PushQueueLimits limits{1, 10};
  QueuedPush p = push("d1", "old", 1000);
  ASSERT_TRUE(catalog_->enqueue_push(p, limits, clock_.now_ms(), false, nullptr).ok());
  clock_.advance(1000);
  EXPECT_TRUE(payloads("d1").empty());
  // The bound counts only live pushes: the expired one makes room and is counted.
  int64_t expired = 0;
  p = push("d1", "new");
  ASSERT_TRUE(catalog_->enqueue_push(p, limits, clock_.now_ms(), false, &expired).ok());
  EXPECT_EQ(expired, 1);
  EXPECT_EQ(payloads("d1"), (std::vector<std::string>{"new"}));
}

TEST_F(CatalogMqttTest, ConfigPushReplacesTheOlderOneWithoutABound) {
  PushQueueLimits limits{1, 1};
  for (const char* body : {"{\"a\":1}", "{\"a\":2}"}) {
    QueuedPush p = push("d1", body);
    p.topic = "devices/d1/config";
    ASSERT_TRUE(catalog_->enqueue_push(p, limits, clock_.now_ms(), true, nullptr).ok());
  }
  auto got = catalog_->pending_pushes("devices/d1/config", clock_.now_ms(), 10);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(got->front().payload, "{\"a\":2}");
}

TEST_F(CatalogMqttTest, ForgettingADeviceDropsItsPushesAndSessions) {
  PushQueueLimits limits;
  QueuedPush p = push("d1", "x");
  ASSERT_TRUE(catalog_->enqueue_push(p, limits, clock_.now_ms(), false, nullptr).ok());
  p = push("d2", "y");
  ASSERT_TRUE(catalog_->enqueue_push(p, limits, clock_.now_ms(), false, nullptr).ok());
  MqttSessionRecord s;
  s.client_id = "c1";
  s.device_id = "d1";
  ASSERT_TRUE(catalog_->put_mqtt_session(s).ok());
  s.client_id = "c2";
  s.device_id = "d2";
  ASSERT_TRUE(catalog_->put_mqtt_session(s).ok());
  ASSERT_TRUE(catalog_->forget_device_mqtt_state("d1").ok());
  EXPECT_TRUE(payloads("d1").empty());
  EXPECT_EQ(payloads("d2"), (std::vector<std::string>{"y"}));
  auto all = catalog_->load_mqtt_sessions();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->front().client_id, "c2");
}

}  // namespace
}  // namespace fp
