// Device attributes in the catalog (schema v4): written in the commit path's one transaction
// with the devices they belong to, the newest value per key, line-protocol name/type/location
// tags mirrored into the device, and gone with their device.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "storage/catalog/catalog.h"
#include "unit/temp_dir.h"

namespace fp {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

class CatalogAttributesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("fp_attrs_");
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
  Pairs attributes(const std::string& id) {
    auto d = catalog_->get_device(id);
    EXPECT_TRUE(d.ok()) << d.status().message();
    return d.ok() && d->attributes ? *d->attributes : Pairs{};
  }

  std::filesystem::path dir_;
  ManualClock clock_;
  std::unique_ptr<Catalog> catalog_;
};

TEST_F(CatalogAttributesTest, SchemaV4AddsAttributes) {
  EXPECT_GE(catalog_->schema_version(), 4);
}

TEST_F(CatalogAttributesTest, AttributesAreWrittenWithTheirNewDeviceAndReadBackByKey) {
  Device d;
  d.device_id = "d1";
  const std::vector<Device> devices = {d};
  const std::vector<DeviceAttribute> attrs = {
      {"d1", "unit", "C", 1}, {"d1", "firmware", "1.2", 1}, {"d1", "temp.unit", "K", 1}};
  ASSERT_TRUE(catalog_->apply_reports_and_attributes(devices, {}, {}, attrs).ok());
  reopen();
  EXPECT_EQ(attributes("d1"), (Pairs{{"firmware", "1.2"}, {"temp.unit", "K"}, {"unit", "C"}}));
  auto list = catalog_->device_attributes("d1");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 3u);
}

TEST_F(CatalogAttributesTest, ANewerValueReplacesTheOld) {
  Device d;
  d.device_id = "d1";
  const std::vector<Device> devices = {d};
  ASSERT_TRUE(
      catalog_->apply_reports_and_attributes(devices, {}, {}, {{{"d1", "fw", "1", 1}}}).ok());
  ASSERT_TRUE(catalog_->apply_reports_and_attributes({}, {}, {}, {{{"d1", "fw", "2", 2}}}).ok());
  EXPECT_EQ(attributes("d1"), (Pairs{{"fw", "2"}}));
}

TEST_F(CatalogAttributesTest, NameTypeAndLocationTagsSetTheDeviceColumns) {
  Device d;
  d.device_id = "d1";
  d.name = "old";
  const std::vector<Device> devices = {d};
  const std::vector<DeviceAttribute> attrs = {{"d1", "tag.name", "Probe", 5},
                                              {"d1", "tag.type", "sensor", 5},
                                              {"d1", "tag.location", "hall 3", 5},
                                              {"d1", "tag.rack", "r7", 5}};
  ASSERT_TRUE(catalog_->apply_reports_and_attributes(devices, {}, {}, attrs).ok());
  auto got = catalog_->get_device("d1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->name, "Probe");
  EXPECT_EQ(got->type, "sensor");
  EXPECT_EQ(got->location, "hall 3");
  EXPECT_EQ(got->attributes->size(), 4u);
}

TEST_F(CatalogAttributesTest, AttributesGoWithTheirDevice) {
  Device d;
  d.device_id = "d1";
  const std::vector<Device> devices = {d};
  ASSERT_TRUE(
      catalog_->apply_reports_and_attributes(devices, {}, {}, {{{"d1", "fw", "1", 1}}}).ok());
  ASSERT_TRUE(catalog_->delete_device("d1").ok());
  ASSERT_TRUE(catalog_->create_device(d).ok());
  EXPECT_EQ(attributes("d1"), Pairs{});
}

}  // namespace
}  // namespace fp
