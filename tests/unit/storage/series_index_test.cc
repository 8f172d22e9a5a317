// SeriesIndex's flat per-device metric table as a spec: lookups past the short linear scan,
// name order kept whatever the creation order, batch lookups of names the index has never
// seen, one pass over every series.
#include "storage/tsdb/series_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace fp::tsdb {
namespace {

TEST(SeriesIndexFlatTest, ADeviceWithManyMetricsFindsEachAndKeepsThemInNameOrder) {
  SeriesIndex index;
  std::map<std::string, SeriesId> want;
  // 200 metrics (past the 32-slot linear scan), created in an order unrelated to their names.
  for (int i = 0; i < 200; ++i) {
    const std::string m = "m" + std::to_string((i * 73) % 200);
    want[m] = index.get_or_create("dev", m);
  }
  for (const auto& [m, id] : want)
    ASSERT_EQ(index.find("dev", m), std::optional<SeriesId>(id)) << m;
  EXPECT_EQ(index.find("dev", "m200"), std::nullopt);
  EXPECT_EQ(index.find("dev", "m"), std::nullopt);
  EXPECT_EQ(index.metrics_of("dev"),
            (std::vector<std::pair<std::string, SeriesId>>(want.begin(), want.end())));
  bool created = true;
  EXPECT_EQ(index.get_or_create("dev", "m150", &created), want["m150"]);
  EXPECT_FALSE(created);
}

TEST(SeriesIndexFlatTest, AMetricAnotherDeviceHasIsNotFoundOnThisOne) {
  SeriesIndex index;
  const SeriesId a = index.get_or_create("a", "temp");
  index.get_or_create("b", "rssi");
  EXPECT_EQ(index.find("a", "rssi"), std::nullopt) << "rssi is interned, but not a's";
  EXPECT_EQ(index.find("b", "temp"), std::nullopt);
  EXPECT_EQ(index.find("a", "temp"), std::optional<SeriesId>(a));
}

TEST(SeriesIndexFlatTest, FindPairsResolvesKnownPairsAndMarksTheRest) {
  SeriesIndex index;
  const SeriesId a_t = index.get_or_create("a", "temp");
  const SeriesId a_h = index.get_or_create("a", "hum");
  const SeriesId b_h = index.get_or_create("b", "hum");
  const std::vector<std::string> devices = {"a", "b", "new"};
  const std::vector<std::string> metrics = {"temp", "hum", "never-seen"};
  auto pair = [](uint64_t d, uint64_t m) { return (d << 32) | m; };
  const std::vector<uint64_t> pairs = {pair(0, 0), pair(0, 1), pair(0, 2), pair(1, 1),
                                       pair(1, 0), pair(2, 0), pair(0, 0)};
  std::vector<SeriesId> out(pairs.size(), 12345);
  index.find_pairs(devices, metrics, pairs, out.data());
  EXPECT_EQ(out, (std::vector<SeriesId>{a_t, a_h, kNoSeries, b_h, kNoSeries, kNoSeries, a_t}));
}

TEST(SeriesIndexFlatTest, ForEachSeriesVisitsEverySeriesOnceInIdOrderSkippingRemovedOnes) {
  SeriesIndex index;
  std::set<std::pair<std::string, std::string>> want;
  for (int d = 0; d < 50; ++d)
    for (int m = 6; m >= 0; --m) {
      const std::string dev = "dev-" + std::to_string(d), met = "metric-" + std::to_string(m);
      index.get_or_create(dev, met);
      want.emplace(dev, met);
    }
  index.remove_device("dev-7");
  for (int m = 0; m < 7; ++m) want.erase({"dev-7", "metric-" + std::to_string(m)});
  // dev-7 again: new ids, visited; its old ones are not.
  index.get_or_create("dev-7", "metric-9");
  want.emplace("dev-7", "metric-9");
  std::set<std::pair<std::string, std::string>> got;
  int64_t last_id = -1;
  index.for_each_series([&](std::string_view dev, std::string_view met, SeriesId id) {
    EXPECT_TRUE(got.emplace(std::string(dev), std::string(met)).second) << "visited twice";
    EXPECT_EQ(index.key(id).device, dev);
    EXPECT_EQ(index.key(id).metric, met);
    EXPECT_GT(static_cast<int64_t>(id), last_id) << "not in id order";
    last_id = id;
  });
  EXPECT_EQ(got, want);
}

TEST(SeriesIndexFlatTest, ClearForgetsMetricNamesAndStartsIdsAgain) {
  SeriesIndex index;
  index.get_or_create("a", "temp");
  index.get_or_create("a", "hum");
  index.clear();
  EXPECT_EQ(index.find("a", "temp"), std::nullopt);
  EXPECT_EQ(index.get_or_create("b", "zz"), 0u);
  EXPECT_EQ(index.get_or_create("b", "temp"), 1u);
  EXPECT_EQ(index.metrics_of("b"),
            (std::vector<std::pair<std::string, SeriesId>>{{"temp", 1}, {"zz", 0}}));
}

// A removed device is absent everywhere (its node stays behind for the names of its old ids),
// a second removal finds nothing, and it can come back with new ids.
TEST(SeriesIndexFlatTest, ARemovedDeviceIsGoneButItsOldIdsStillHaveTheirNames) {
  SeriesIndex index;
  const SeriesId t = index.get_or_create("gone", "temperature_of_the_engine_block");
  index.get_or_create("gone", "hum");
  index.get_or_create("kept", "temp");
  EXPECT_EQ(index.remove_device("gone").size(), 2u);
  EXPECT_FALSE(index.has_device("gone"));
  EXPECT_EQ(index.devices(), std::vector<std::string>{"kept"});
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(index.find("gone", "hum"), std::nullopt);
  EXPECT_TRUE(index.metrics_of("gone").empty());
  EXPECT_TRUE(index.remove_device("gone").empty());
  EXPECT_EQ(index.key(t).device, "gone");
  EXPECT_EQ(index.key(t).metric, "temperature_of_the_engine_block");
  bool created = false;
  const SeriesId again = index.get_or_create("gone", "hum", &created);
  EXPECT_TRUE(created);
  EXPECT_GT(again, t);
  EXPECT_TRUE(index.has_device("gone"));
  EXPECT_EQ(index.key(again).device, "gone");
}

}  // namespace
}  // namespace fp::tsdb
