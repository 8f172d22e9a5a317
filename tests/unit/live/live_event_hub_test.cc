// LiveEventHub: frames, periodic stats and keepalives, telemetry only for subscribers of the
// device, and clients that are gone dropped without disturbing the others.

#include "live/live_event_hub.h"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <thread>

namespace fp {
namespace {

struct Collector {
  std::mutex mu;
  std::vector<std::string> frames;
  bool alive = true;
  LiveEventHub::Writer writer() {
    return [this](std::string f) {
      std::lock_guard lock(mu);
      if (!alive) return false;
      frames.push_back(std::move(f));
      return true;
    };
  }
  size_t count(std::string_view prefix) {
    std::lock_guard lock(mu);
    size_t n = 0;
    for (const auto& f : frames) n += f.rfind(prefix, 0) == 0;
    return n;
  }
};

TEST(LiveEventHubTest, FramesAreServerSentEvents) {
  EXPECT_EQ(LiveEventHub::frame("alert", R"({"id":"1"})"),
            "event: alert\ndata: {\"id\":\"1\"}\n\n");
}

TEST(LiveEventHubTest, StatusEventsReachEveryClient) {
  LiveEventHub hub;
  Collector a, b;
  hub.subscribe(a.writer(), {});
  hub.subscribe(b.writer(), {});
  hub.publish_status({"d1", DeviceStatus::kOnline, DeviceStatus::kOffline, "quiet", 0});
  EXPECT_EQ(a.frames.front(), ": connected\n\n");
  EXPECT_EQ(a.frames.back(),
            "event: status\ndata: {\"device_id\":\"d1\",\"from\":\"online\",\"to\":\"offline\","
            "\"reason\":\"quiet\",\"at\":\"1970-01-01T00:00:00.000Z\"}\n\n");
  EXPECT_EQ(b.frames.back(), a.frames.back());
}

TEST(LiveEventHubTest, TelemetryOnlyForSubscribedDevices) {
  LiveEventHub hub;
  Collector subscribed, other;
  hub.subscribe(subscribed.writer(), {"d2"});
  hub.subscribe(other.writer(), {});
  ReadingBatch b;
  b.add(b.intern_device("d1"), b.intern_metric("t"), 0, 1);
  b.add(b.intern_device("d2"), b.intern_metric("t"), 1000, 2.5);
  hub.publish_telemetry(b);
  ASSERT_EQ(subscribed.count("event: telemetry"), 1u);
  EXPECT_EQ(subscribed.frames.back(),
            "event: telemetry\ndata: {\"device_id\":\"d2\",\"metric\":\"t\","
            "\"ts\":\"1970-01-01T00:00:01.000Z\",\"value\":2.5}\n\n");
  EXPECT_EQ(other.count("event: telemetry"), 0u);
}

TEST(LiveEventHubTest, ClientsThatAreGoneAreDropped) {
  LiveEventHub hub;
  Collector stays, leaves;
  hub.subscribe(stays.writer(), {});
  hub.subscribe(leaves.writer(), {"d1"});
  leaves.alive = false;
  hub.publish("alert", "{}");
  EXPECT_EQ(hub.subscribers(), 1u);
  EXPECT_EQ(stays.count("event: alert"), 1u);
}

TEST(LiveEventHubTest, PeriodicStatsAndKeepalives) {
  LiveEventHub hub({std::chrono::milliseconds(20), std::chrono::milliseconds(30)});
  Collector c;
  hub.subscribe(c.writer(), {});
  hub.start([] { return std::string(R"({"devices":{}})"); });
  for (int i = 0; i < 200 && (c.count("event: stats") < 3 || c.count(": keepalive") < 2); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  hub.stop();
  EXPECT_GE(c.count("event: stats"), 3u);
  EXPECT_GE(c.count(": keepalive"), 2u);
  EXPECT_EQ(hub.subscribers(), 0u);  // stop() lets every client go
}

TEST(LiveEventHubTest, DisconnectingAPrincipalClosesOnlyItsStreams) {
  LiveEventHub hub;
  Collector a, b, anon;
  int closed_a = 0, closed_b = 0;
  hub.subscribe(a.writer(), {}, "key_a", [&] { ++closed_a; });
  hub.subscribe(b.writer(), {}, "key_b", [&] { ++closed_b; });
  hub.subscribe(anon.writer(), {});
  EXPECT_EQ(hub.disconnect_principal("key_a"), 1u);
  EXPECT_EQ(closed_a, 1);
  EXPECT_EQ(closed_b, 0);
  EXPECT_EQ(hub.subscribers(), 2u);
  hub.publish("alert", "{}");
  EXPECT_EQ(a.count("event: alert"), 0u) << "a closed stream gets nothing more";
  EXPECT_EQ(b.count("event: alert"), 1u);
  EXPECT_EQ(hub.disconnect_principal("key_a"), 0u);
  EXPECT_EQ(hub.disconnect_principal(""), 0u) << "streams opened without a key are not matched";
  EXPECT_EQ(hub.subscribers(), 2u);
}

}  // namespace
}  // namespace fp
