// The catalog's reads for the KPI sampler (issue 16): the devices that have reported, and the
// ones that never did counted per type, so a fleet of registered idle devices is not loaded
// row by row every sample.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "storage/catalog/catalog.h"
#include "unit/temp_dir.h"

namespace fp {
namespace {

class UnseenDevicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("fp_unseen_");
    auto c = Catalog::open((dir_ / "catalog.db").string(), clock_);
    ASSERT_TRUE(c.ok()) << c.status().message();
    catalog_ = std::move(c).value();
  }
  void TearDown() override {
    catalog_.reset();
    std::filesystem::remove_all(dir_);
  }
  void add(const std::string& id, const std::string& type, int64_t created_at) {
    Device d;
    d.device_id = id;
    d.type = type;
    d.created_at_ms = d.updated_at_ms = created_at;
    ASSERT_TRUE(catalog_->create_device(d).ok());
  }

  std::filesystem::path dir_;
  ManualClock clock_{1'000'000};
  std::unique_ptr<Catalog> catalog_;
};

TEST_F(UnseenDevicesTest, DevicesThatNeverReportedAreCountedPerTypeAndNotLoaded) {
  add("a", "pump", 100);
  add("b", "pump", 200);
  add("c", "pump", 300);
  add("d", "valve", 100);
  add("e", "", 100);
  DeviceLiveUpdate seen;
  seen.device_id = "b";
  seen.last_seen_ms = 500;
  ASSERT_TRUE(catalog_->apply_reports({}, std::vector<DeviceLiveUpdate>{seen}, {}).ok());

  for (const bool few : {false, true}) {  // a scan, or the indexes
    auto loaded = catalog_->load_seen_devices(few);
    ASSERT_TRUE(loaded.ok()) << loaded.status().message();
    ASSERT_EQ(loaded->size(), 1u);
    EXPECT_EQ(loaded->front().device_id, "b");
  }

  auto unseen = catalog_->count_unseen_devices_by_type(300);
  ASSERT_TRUE(unseen.ok()) << unseen.status().message();
  ASSERT_EQ(unseen->size(), 3u);
  EXPECT_EQ((*unseen)[0].type, "");
  EXPECT_EQ((*unseen)[0].devices, 1);
  EXPECT_EQ((*unseen)[1].type, "pump");
  EXPECT_EQ((*unseen)[1].devices, 2);         // a and c
  EXPECT_EQ((*unseen)[1].created_before, 1);  // a (c was created at 300)
  EXPECT_EQ((*unseen)[2].type, "valve");
  EXPECT_EQ((*unseen)[2].devices, 1);
}

}  // namespace
}  // namespace fp
