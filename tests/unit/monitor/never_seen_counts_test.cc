// DeviceStatusTracker::never_seen(): the devices that never reported, counted per type as
// devices are added, report, change type and go (what the KPI sampler counts them from).
#include <gtest/gtest.h>

#include "monitor/device_status_tracker.h"

namespace fp {
namespace {

using Counts = std::vector<std::pair<std::string, int64_t>>;

Device dev(const std::string& id, const std::string& type, int64_t created_at = 0) {
  Device d;
  d.device_id = id;
  d.type = type;
  d.created_at_ms = created_at;
  return d;
}

TEST(NeverSeenCounts, FollowAddsReportsTypeChangesAndRemovals) {
  ManualClock clock{1'000'000};
  DeviceStatusTracker t{StatusPolicy{}, clock};
  t.add(dev("p1", "pump", 500));
  t.add(dev("p2", "pump", 700));
  t.add(dev("v1", "valve", 600));
  t.add(dev("u1", ""));  // no created_at: the add time stands for it
  Device known = dev("k1", "pump", 900'000);
  known.last_seen_ms = 800'000;  // loaded as seen before: not "never seen"
  t.add(known);
  auto n = t.never_seen();
  EXPECT_EQ(n.by_type, (Counts{{"", 1}, {"pump", 2}, {"valve", 1}}));
  EXPECT_EQ(n.devices, 4);
  EXPECT_EQ(n.tracked, 5);
  EXPECT_EQ(n.newest_created_ms, 1'000'000);

  t.observe("p1", clock.now_ms(), std::nullopt, std::nullopt);
  t.set_type("p2", "valve");
  t.set_type("k1", "valve");  // seen before: moves nothing
  t.remove("u1");
  n = t.never_seen();
  EXPECT_EQ(n.by_type, (Counts{{"valve", 2}}));
  EXPECT_EQ(n.devices, 2);
  EXPECT_EQ(n.tracked, 4);

  t.remove("p1");  // seen: nothing to take off
  t.observe("v1", clock.now_ms(), 50.0, std::nullopt);
  t.observe("v1", clock.now_ms() + 1000, 50.0, std::nullopt);  // counted once
  n = t.never_seen();
  EXPECT_EQ(n.by_type, (Counts{{"valve", 1}}));
  EXPECT_EQ(n.devices, 1);
  EXPECT_EQ(n.newest_created_ms, 1'000'000);  // never lowered
  t.clear();
  EXPECT_EQ(t.never_seen().devices, 0);
}

}  // namespace
}  // namespace fp
