// ConsumerFeed: MQTT filter syntax and matching, per-subscriber queues in publishing order,
// one copy at the highest QoS, and a subscriber that falls behind dropped without disturbing
// the others.

#include "live/consumer_feed.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <tuple>
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
  EXPECT_EQ(got[0][0].topic, "devices/d1/telemetry");
  EXPECT_EQ(got[0].qos, 1);
  EXPECT_NE(got[0][0].payload.find("\"points\":[{\"metric\":\"t\""), std::string::npos);
  EXPECT_LT(got[0][0].payload.find("\"value\":1"), got[0][0].payload.find("\"value\":3"));
  EXPECT_EQ(got[1][0].topic, "devices/d2/telemetry");
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
  EXPECT_EQ(got[0][0].payload, "{\"id\":1}");
  EXPECT_EQ(got[1][0].payload, "{\"id\":2}");
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

std::atomic<int> g_encoded[2] = {0, 0};

// A stand-in for the MQTT encoder: "<slot>|topic|payload;" per message.
void count_and_encode(size_t slot, std::string_view topic, std::string_view payload,
                      std::string& out) {
  ++g_encoded[slot];
  out += std::to_string(slot) + "|" + std::string(topic) + "|" + std::string(payload) + ";";
}

// (first, count, qos) of a delivery, to compare in one line.
std::tuple<uint32_t, uint32_t, int> run(const ConsumerDelivery& d) {
  return {d.first, d.count, d.qos};
}

ReadingBatch batch_of_devices(int devices) {
  ReadingBatch b;
  const uint32_t m = b.intern_metric("t");
  for (int i = 0; i < devices; ++i) b.add(b.intern_device("d" + std::to_string(i)), m, 1000, i);
  return b;
}

// A telemetry batch reaches every wildcard subscriber as one queue entry sharing one
// ConsumerMessages, whose packets are encoded once per protocol version (on the feed's thread)
// however many subscribers there are: the cost per subscriber is one entry and one write.
TEST(ConsumerFeed, ABatchIsOneRunPerWildcardSubscriberEncodedOncePerVersion) {
  g_encoded[0] = g_encoded[1] = 0;
  ConsumerFeed feed;
  feed.set_packet_encoder(&count_and_encode);
  std::vector<std::shared_ptr<ConsumerFeed::Subscriber>> subs;
  for (int i = 0; i < 10; ++i) {
    subs.push_back(feed.add({}, i % 2));
    feed.set_filters(*subs.back(), {{"devices/+/telemetry", 0}, {"fleet/alerts", 1}});
  }
  feed.publish_telemetry(std::make_shared<const ReadingBatch>(batch_of_devices(100)));
  EXPECT_EQ(g_encoded[0], 100);
  EXPECT_EQ(g_encoded[1], 100);
  std::vector<ConsumerDelivery> got;
  for (auto& s : subs) {
    auto d = feed.take(*s, 1000);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].first, 0u);
    EXPECT_EQ(d[0].count, 100u);
    EXPECT_EQ(d[0].qos, 0);
    got.push_back(d[0]);
  }
  for (auto& d : got) EXPECT_EQ(d.messages.get(), got[0].messages.get());
  const ConsumerMessages& m = *got[0].messages;
  EXPECT_EQ(m[7].topic, "devices/d7/telemetry");
  std::string expected;
  for (size_t i = 0; i < m.size(); ++i)
    expected += "1|" + std::string(m[i].topic) + "|" + std::string(m[i].payload) + ";";
  EXPECT_EQ(m.packets(1, 0, 100), expected);
  EXPECT_EQ(m.packets(0, 7, 1),
            "0|" + std::string(m[7].topic) + "|" + std::string(m[7].payload) + ";");
  EXPECT_EQ(g_encoded[0], 100);  // nothing encoded again by the readers
  EXPECT_EQ(g_encoded[1], 100);
}

// A subscriber with a higher QoS for one device gets runs split where the QoS changes, in
// batch order; a subscriber of one device gets only its message.
TEST(ConsumerFeed, RunsSplitWhereTheGrantedQosChanges) {
  ConsumerFeed feed;
  auto mixed = feed.add({});
  feed.set_filters(*mixed, {{"devices/+/telemetry", 0}, {"devices/d5/telemetry", 1}});
  auto one = feed.add({});
  feed.set_filters(*one, {{"devices/d3/telemetry", 1}});
  feed.publish_telemetry(std::make_shared<const ReadingBatch>(batch_of_devices(10)));
  auto d = feed.take(*mixed, 1000);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(run(d[0]), std::make_tuple(0u, 5u, 0));
  EXPECT_EQ(run(d[1]), std::make_tuple(5u, 1u, 1));
  EXPECT_EQ(d[1][0].topic, "devices/d5/telemetry");
  EXPECT_EQ(run(d[2]), std::make_tuple(6u, 4u, 0));
  auto o = feed.take(*one, 1000);
  ASSERT_EQ(o.size(), 1u);
  ASSERT_EQ(o[0].count, 1u);
  EXPECT_EQ(o[0][0].topic, "devices/d3/telemetry");
  EXPECT_EQ(o[0].qos, 1);
}

// Topics of every message delivered, in order.
std::vector<std::string> topics_of(const std::vector<ConsumerDelivery>& got) {
  std::vector<std::string> topics;
  for (const ConsumerDelivery& d : got)
    for (uint32_t i = 0; i < d.count; ++i) topics.emplace_back(d[i].topic);
  return topics;
}

std::vector<ConsumerDelivery> take_until(ConsumerFeed& feed, ConsumerFeed::Subscriber& s,
                                         size_t messages) {
  std::vector<ConsumerDelivery> got;
  size_t n = 0;
  for (int i = 0; i < 5000 && n < messages; ++i) {
    for (auto& d : feed.take(s, 100000)) {
      n += d.count;
      got.push_back(std::move(d));
    }
    if (n < messages) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return got;
}

// A started feed fans out the telemetry batches committed within coalesce_us of the first one
// together: one queue entry (run) for all of them, the batches' messages in commit
// order; an alert among them keeps its place.
TEST(ConsumerFeed, BatchesCommittedWithinTheDelayAreOneFanOut) {
  ConsumerFeedOptions options;
  options.coalesce_us = 1'000'000;  // wide: the publishes below take ~80 ms
  ConsumerFeed feed(options);
  std::atomic<int> wakes = 0;
  auto s = feed.add({[&] { ++wakes; }, {}});
  feed.set_filters(*s, {{"devices/+/telemetry", 0}, {"fleet/alerts", 0}});
  feed.start();
  const auto pause = [] { std::this_thread::sleep_for(std::chrono::milliseconds(20)); };
  for (int i = 0; i < 3; ++i) {
    feed.publish_telemetry(std::make_shared<const ReadingBatch>(batch_of_devices(4)));
    pause();  // a batch alone would be fanned out by now without the delay
  }
  feed.publish_alert("{\"id\":1}");
  pause();
  feed.publish_telemetry(std::make_shared<const ReadingBatch>(batch_of_devices(2)));
  auto got = take_until(feed, *s, 15);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(run(got[0]), std::make_tuple(0u, 12u, 0));  // three batches, one run
  EXPECT_EQ(got[1][0].topic, "fleet/alerts");
  EXPECT_EQ(run(got[2]), std::make_tuple(0u, 2u, 0));
  const std::vector<std::string> topics = topics_of(got);
  std::vector<std::string> expected;
  for (int b = 0; b < 3; ++b)
    for (int d = 0; d < 4; ++d) expected.push_back("devices/d" + std::to_string(d) + "/telemetry");
  expected.push_back("fleet/alerts");
  expected.push_back("devices/d0/telemetry");
  expected.push_back("devices/d1/telemetry");
  EXPECT_EQ(topics, expected);
  // One wake for the coalesced run and the alert; the last batch, fanned out in the same pass,
  // wakes again only if take_until emptied the queue in between (a busy machine). Without
  // coalescing every batch would wake on its own: four or more.
  EXPECT_GE(wakes, 1);
  EXPECT_LE(wakes, 2);
  feed.stop();
}

// coalesce_points ends the wait early, and what it left over goes next without waiting again:
// with a one-minute delay, 30 points arrive at once.
TEST(ConsumerFeed, CoalescingStopsAtCoalescePointsWithoutWaitingForTheRest) {
  ConsumerFeedOptions options;
  options.coalesce_us = 60'000'000;
  options.coalesce_points = 25;
  ConsumerFeed feed(options);
  auto s = feed.add({});
  feed.set_filters(*s, {{"#", 0}});
  feed.start();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i)
    feed.publish_telemetry(std::make_shared<const ReadingBatch>(batch_of_devices(10)));
  auto got = take_until(feed, *s, 30);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
  ASSERT_EQ(topics_of(got).size(), 30u);
  EXPECT_EQ(run(got[0]), std::make_tuple(0u, 20u, 0));  // two batches: a third is over 25
  EXPECT_EQ(topics_of(got)[29], "devices/d9/telemetry");
  feed.stop();
}

// take() that must return exactly one run: its (first, count, qos).
std::tuple<uint32_t, uint32_t, int> take_one(ConsumerFeed& feed, ConsumerFeed::Subscriber& s,
                                             size_t max_messages, size_t max_bytes = SIZE_MAX) {
  auto d = feed.take(s, max_messages, max_bytes);
  EXPECT_EQ(d.size(), 1u);
  return d.empty() ? std::make_tuple(0u, 0u, -1) : run(d[0]);
}

// take() splits a run at its message and byte limits and leaves the rest queued, in order.
TEST(ConsumerFeed, TakeSplitsARunAtItsLimits) {
  ConsumerFeed feed;
  auto s = feed.add({});
  feed.set_filters(*s, {{"#", 0}});
  feed.publish_telemetry(std::make_shared<const ReadingBatch>(batch_of_devices(10)));
  EXPECT_EQ(take_one(feed, *s, 3), std::make_tuple(0u, 3u, 0));
  // Past the first message, the byte limit stops it.
  EXPECT_EQ(take_one(feed, *s, 100, 1), std::make_tuple(3u, 1u, 0));
  EXPECT_EQ(take_one(feed, *s, 100), std::make_tuple(4u, 6u, 0));
  EXPECT_TRUE(feed.take(*s, 100).empty());
}

// The byte limit falls inside a run: the message that crosses it is taken (as the first is,
// whatever its size), the rest stays queued; the queue's byte count follows exactly.
TEST(ConsumerFeed, TakeSplitsARunInsideByBytes) {
  ConsumerFeed feed;
  std::atomic<int> overflows{0};
  auto s = feed.add({{}, [&] { ++overflows; }});
  feed.set_filters(*s, {{"devices/+/telemetry", 0}});
  feed.publish_telemetry(std::make_shared<const ReadingBatch>(batch_of_devices(10)));
  feed.publish_telemetry(std::make_shared<const ReadingBatch>(batch_of_devices(10)));
  auto whole = feed.take(*s, 1);
  ASSERT_EQ(whole.size(), 1u);
  const ConsumerMessages& m = *whole[0].messages;
  const size_t one = m.bytes(1, 1);
  EXPECT_EQ(m.bytes(1, 3), m.bytes(1, 1) + m.bytes(2, 1) + m.bytes(3, 1));
  // Messages 1, 2 are under 2.5 messages' bytes, message 3 crosses it: 1..3 taken.
  EXPECT_EQ(take_one(feed, *s, 100, one * 5 / 2), std::make_tuple(1u, 3u, 0));
  // Exactly two messages' bytes: the third starts at the limit and is not taken.
  EXPECT_EQ(take_one(feed, *s, 100, m.bytes(4, 2)), std::make_tuple(4u, 2u, 0));
  // The rest of the first run and the first message of the second: a limit that ends in the
  // second run; then the message limit alone.
  auto c = feed.take(*s, 100, m.bytes(6, 4) + 1);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(run(c[0]), std::make_tuple(6u, 4u, 0));
  EXPECT_EQ(run(c[1]), std::make_tuple(0u, 1u, 0));
  EXPECT_EQ(take_one(feed, *s, 4), std::make_tuple(1u, 4u, 0));
  // A zero byte limit still takes one message.
  EXPECT_EQ(take_one(feed, *s, 100, 0), std::make_tuple(5u, 1u, 0));
  EXPECT_EQ(take_one(feed, *s, 100), std::make_tuple(6u, 4u, 0));
  EXPECT_TRUE(feed.take(*s, 100).empty());
  EXPECT_EQ(overflows, 0);
}

}  // namespace
}  // namespace fp
