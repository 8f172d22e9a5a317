// ConsumerFeed: MQTT filter syntax and matching, per-subscriber queues in publishing order,
// one copy at the highest QoS, and a subscriber that falls behind dropped without disturbing
// the others.

#include "live/consumer_feed.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace fp {
namespace {

TEST(ConsumerFeed, FilterSyntax) {
  EXPECT_TRUE(ConsumerFeed::valid_filter("devices/+/telemetry"));
  EXPECT_TRUE(ConsumerFeed::valid_filter("#"));
  EXPECT_TRUE(ConsumerFeed::valid_filter("fleet/#"));
  EXPECT_TRUE(ConsumerFeed::valid_filter("+/+/+"));
  EXPECT_FALSE(ConsumerFeed::valid_filter(""));
  EXPECT_FALSE(ConsumerFeed::valid_filter("devices/#/telemetry"));
  EXPECT_FALSE(ConsumerFeed::valid_filter("devices/a+/telemetry"));
  EXPECT_FALSE(ConsumerFeed::valid_filter("fleet/#x"));
}

TEST(ConsumerFeed, MatchesAsMqttDoes) {
  EXPECT_TRUE(ConsumerFeed::matches("devices/+/telemetry", "devices/d1/telemetry"));
  EXPECT_FALSE(ConsumerFeed::matches("devices/+/telemetry", "devices/d1/heartbeat"));
  EXPECT_FALSE(ConsumerFeed::matches("devices/+/telemetry", "devices/d1/telemetry/x"));
  EXPECT_FALSE(ConsumerFeed::matches("devices/+", "devices/d1/telemetry"));
  EXPECT_TRUE(ConsumerFeed::matches("#", "fleet/status"));
  EXPECT_TRUE(ConsumerFeed::matches("fleet/#", "fleet/alerts"));
  EXPECT_TRUE(ConsumerFeed::matches("fleet/#", "fleet"));  // '#' includes the parent level
  EXPECT_TRUE(ConsumerFeed::matches("+/+/telemetry", "devices/d1/telemetry"));
  EXPECT_FALSE(ConsumerFeed::matches("fleet/status", "fleet/statuses"));
  EXPECT_FALSE(ConsumerFeed::matches("fleet/status/+", "fleet/status"));
  EXPECT_FALSE(ConsumerFeed::matches("#", "$SYS/x"));
}

TEST(ConsumerFeed, ConsumerTopics) {
  EXPECT_TRUE(ConsumerFeed::is_consumer_topic("devices/d-1/telemetry"));
  EXPECT_TRUE(ConsumerFeed::is_consumer_topic("devices/d-1/heartbeat"));
  EXPECT_TRUE(ConsumerFeed::is_consumer_topic("fleet/status"));
  EXPECT_TRUE(ConsumerFeed::is_consumer_topic("fleet/alerts"));
  EXPECT_FALSE(ConsumerFeed::is_consumer_topic("devices/d-1/commands"));
  EXPECT_FALSE(ConsumerFeed::is_consumer_topic("devices/bad id/telemetry"));
}

TEST(ConsumerFeed, QueuesInOrderOnceAtTheHighestQos) {
  ConsumerFeed feed;
  int wakes = 0;
  auto s = feed.add({[&] { ++wakes; }, {}});
  feed.set_filters(*s, {{"devices/+/telemetry", 0}, {"devices/d1/telemetry", 1}});
  ReadingBatch b;
  const uint32_t d1 = b.intern_device("d1"), d2 = b.intern_device("d2");
  const uint32_t m = b.intern_metric("t");
  b.add(d1, m, 1000, 1);
  b.add(d2, m, 1000, 2);
  b.add(d1, m, 2000, 3);
  auto batch = std::make_shared<const ReadingBatch>(std::move(b));
  feed.publish_telemetry(batch);
  feed.publish_status({"d1", DeviceStatus::kUnknown, DeviceStatus::kOnline, "heartbeat", 5});
  EXPECT_EQ(wakes, 1);  // one wake until the queue is emptied
  auto got = feed.take(*s, 10);
  ASSERT_EQ(got.size(), 2u);  // status: not subscribed
  EXPECT_EQ(got[0].message->topic, "devices/d1/telemetry");
  EXPECT_EQ(got[0].qos, 1);
  EXPECT_NE(got[0].message->payload.find("\"points\":[{\"metric\":\"t\""), std::string::npos);
  EXPECT_LT(got[0].message->payload.find("\"value\":1"),
            got[0].message->payload.find("\"value\":3"));
  EXPECT_EQ(got[1].message->topic, "devices/d2/telemetry");
  EXPECT_EQ(got[1].qos, 0);
  EXPECT_TRUE(feed.take(*s, 10).empty());
  feed.publish_telemetry(batch);
  EXPECT_EQ(wakes, 2);
}

TEST(ConsumerFeed, StartedItFansOutOnItsOwnThread) {
  ConsumerFeed feed;
  std::atomic<int> wakes = 0;
  auto s = feed.add({[&] { ++wakes; }, {}});
  feed.set_filters(*s, {{"fleet/alerts", 1}});
  feed.start();
  feed.publish_alert("{\"id\":1}");
  feed.publish_alert("{\"id\":2}");
  for (int i = 0; i < 500 && wakes == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(wakes, 1);
  std::vector<ConsumerDelivery> got;
  for (int i = 0; i < 500 && got.size() < 2; ++i) {
    for (auto& d : feed.take(*s, 10)) got.push_back(std::move(d));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].message->payload, "{\"id\":1}");
  EXPECT_EQ(got[1].message->payload, "{\"id\":2}");
  feed.stop();
  feed.stop();
  feed.publish_alert("{}");  // after stop: nothing, no crash
  EXPECT_TRUE(feed.take(*s, 10).empty());
}

TEST(ConsumerFeed, ASubscriberThatFallsBehindIsDroppedAlone) {
  ConsumerFeed feed({4096});
  int overflows = 0;
  auto slow = feed.add({{}, [&] { ++overflows; }});
  auto fast = feed.add({{}, {}});
  feed.set_filters(*slow, {{"fleet/#", 0}});
  feed.set_filters(*fast, {{"fleet/#", 0}});
  for (int i = 0; i < 200; ++i) {
    feed.publish_alert("{\"id\":" + std::to_string(i) + "}");
    ASSERT_EQ(feed.take(*fast, 100).size(), 1u) << i;
  }
  EXPECT_EQ(overflows, 1);
  EXPECT_EQ(feed.subscribers(), 1u);
  EXPECT_TRUE(feed.take(*slow, 1000).empty());
  feed.remove(fast);
  EXPECT_EQ(feed.subscribers(), 0u);
}

}  // namespace
}  // namespace fp

namespace fp {
namespace {

// Every subscriber gets the same message object, and its QoS 0 packet is encoded once per
// protocol version however many connections send it at once.
TEST(ConsumerFeed, OneMessageSharedByAllSubscribersEncodedOncePerVersion) {
  ConsumerFeed feed;
  std::vector<std::shared_ptr<ConsumerFeed::Subscriber>> subs;
  for (int i = 0; i < 10; ++i) {
    subs.push_back(feed.add({}));
    feed.set_filters(*subs.back(), {{"fleet/alerts", 0}});
  }
  feed.publish_alert(R"({"id":1})");
  std::vector<std::shared_ptr<const ConsumerMessage>> got;
  for (auto& s : subs) {
    auto d = feed.take(*s, 10);
    ASSERT_EQ(d.size(), 1u);
    got.push_back(d[0].message);
  }
  for (auto& m : got) EXPECT_EQ(m.get(), got[0].get());

  std::atomic<int> encoded[2] = {0, 0};
  std::vector<std::thread> senders;
  std::vector<std::string> seen(16);
  for (int i = 0; i < 16; ++i)
    senders.emplace_back([&, i] {
      const size_t slot = i % 2;
      seen[i] = got[0]->shared_packet(slot, [&] {
        ++encoded[slot];
        return std::string(slot ? "v5:" : "v311:") + got[0]->payload;
      });
    });
  for (auto& t : senders) t.join();
  EXPECT_EQ(encoded[0], 1);
  EXPECT_EQ(encoded[1], 1);
  for (int i = 0; i < 16; ++i)
    EXPECT_EQ(seen[i], std::string(i % 2 ? "v5:" : "v311:") + R"({"id":1})");
}

}  // namespace
}  // namespace fp
