// query::for_each_latest / for_each_latest_of_all as a spec: what the latest endpoints and
// "latest of all" read, on a real store (in-memory file system).
#include "query/latest_values.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "model/reading_batch.h"
#include "storage/fs/fault_injecting_file_system.h"

namespace fp::query {
namespace {

class LatestValuesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tsdb::StoreOptions o;
    o.dir = "/store";
    o.background = false;
    auto s = tsdb::TimeSeriesStore::open(fs_, o, {}, nullptr);
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(*s);
  }
  void write(const std::string& device, const std::string& metric, int64_t ts, double v) {
    ReadingBatch b;
    b.add(b.intern_device(device), b.intern_metric(metric), ts, v);
    ASSERT_TRUE(store_->log(b, ts).ok());
    ASSERT_TRUE(store_->commit().ok());
    store_->apply(b);
  }
  using Seen = std::vector<std::tuple<std::string, int64_t, double>>;
  Seen latest_of(const std::string& device, std::optional<std::string_view> only = {}) {
    Seen out;
    for_each_latest(*store_, device, only, [&](std::string_view m, std::optional<tsdb::Sample> s) {
      out.emplace_back(std::string(m), s ? s->ts : -1, s ? s->value : 0);
    });
    return out;
  }

  FaultInjectingFileSystem fs_;
  std::unique_ptr<tsdb::TimeSeriesStore> store_;
};

TEST_F(LatestValuesTest, EachMetricOfADeviceInNameOrderWithItsNewestPoint) {
  write("d1", "temp", 2000, 21.5);
  write("d1", "temp", 1000, 19.0);  // older: not the latest
  write("d1", "battery", 1500, 88);
  write("d2", "temp", 3000, 5);
  EXPECT_EQ(latest_of("d1"), (Seen{{"battery", 1500, 88}, {"temp", 2000, 21.5}}));
  EXPECT_EQ(latest_of("d2"), (Seen{{"temp", 3000, 5}}));
  EXPECT_TRUE(latest_of("nobody").empty());
}

TEST_F(LatestValuesTest, OnlyMetricReadsThatSeriesAloneAndNothingWhenAbsent) {
  write("d1", "temp", 2000, 21.5);
  write("d1", "battery", 1500, 88);
  EXPECT_EQ(latest_of("d1", "temp"), (Seen{{"temp", 2000, 21.5}}));
  EXPECT_TRUE(latest_of("d1", "humidity").empty());
  EXPECT_TRUE(latest_of("d9", "temp").empty());
}

TEST_F(LatestValuesTest, LatestOfAllVisitsEverySeriesOnceAndSkipsDeletedDevices) {
  std::map<std::pair<std::string, std::string>, std::pair<int64_t, double>> want;
  for (int d = 0; d < 20; ++d)
    for (int m = 0; m < 3; ++m) {
      const std::string dev = "dev" + std::to_string(d), met = "m" + std::to_string(m);
      write(dev, met, 1000 + d, d * 10.0 + m);
      write(dev, met, 5000 + d * 3 + m, d * 100.0 + m);
      want[{dev, met}] = {5000 + d * 3 + m, d * 100.0 + m};
    }
  store_->apply_delete_device("dev3");
  for (int m = 0; m < 3; ++m) want.erase({"dev3", "m" + std::to_string(m)});
  std::map<std::pair<std::string, std::string>, std::pair<int64_t, double>> got;
  for_each_latest_of_all(*store_, [&](std::string_view d, std::string_view m, tsdb::Sample s) {
    EXPECT_TRUE(
        got.emplace(std::pair{std::string(d), std::string(m)}, std::pair{s.ts, s.value}).second);
  });
  EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace fp::query
