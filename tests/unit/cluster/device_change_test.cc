// Device registrations and updates through the partition stream (docs/cluster.md "Device
// registrations and updates"): the 'D' share round-trips and refuses damage; the owner's catalog
// apply is idempotent — the same change twice gives the same row.

#include <gtest/gtest.h>

#include <filesystem>

#include "cluster/share_codec.h"
#include "storage/catalog/catalog.h"
#include "unit/temp_dir.h"

namespace fp::cluster {
namespace {

DeviceChange Create(std::string id, int64_t at) {
  DeviceChange c;
  c.kind = DeviceChange::Kind::kCreate;
  c.device_id = std::move(id);
  c.fields = {"Pump 1", "pump", "hall", R"({"a":1,"b":{"x":1}})", R"({"rate":5})", false};
  c.at_ms = at;
  return c;
}

TEST(DeviceChangeShare, RoundTripsEveryKindAndField) {
  DeviceChange patch;
  patch.kind = DeviceChange::Kind::kPatch;
  patch.device_id = "pump-1";
  patch.fields.location = "roof";
  patch.fields.metadata_json = R"({"b":{"y":2}})";
  patch.fields.merge_objects = true;
  patch.at_ms = 77;
  for (const DeviceChange& c : {Create("pump-1", 5), patch}) {
    const std::string bytes = EncodeDeviceChange(c);
    auto s = DecodeShare(bytes);
    ASSERT_TRUE(s.ok()) << s.status().message();
    ASSERT_EQ(s->kind, ShareKind::kDevice);
    const DeviceChange& d = s->device;
    EXPECT_EQ(d.kind, c.kind);
    EXPECT_EQ(d.device_id, c.device_id);
    EXPECT_EQ(d.at_ms, c.at_ms);
    EXPECT_EQ(d.fields.name, c.fields.name);
    EXPECT_EQ(d.fields.type, c.fields.type);
    EXPECT_EQ(d.fields.location, c.fields.location);
    EXPECT_EQ(d.fields.metadata_json, c.fields.metadata_json);
    EXPECT_EQ(d.fields.config_json, c.fields.config_json);
    EXPECT_EQ(d.fields.merge_objects, c.fields.merge_objects);
    EXPECT_EQ(EncodeDeviceChange(d), bytes);
  }
}

TEST(DeviceChangeShare, DamagedChangesAreRefused) {
  const std::string good = EncodeDeviceChange(Create("pump-1", 5));
  for (size_t cut = 0; cut < good.size(); ++cut)
    EXPECT_FALSE(DecodeShare(good.substr(0, cut)).ok()) << cut;
  EXPECT_FALSE(DecodeShare(good + "x").ok());
  std::string bad_kind = good;
  bad_kind[5] = 'Z';
  EXPECT_FALSE(DecodeShare(bad_kind).ok());
  DeviceChange bad_json = Create("pump-1", 5);
  bad_json.fields.metadata_json = "[1]";  // not an object: applying it could never succeed
  EXPECT_FALSE(DecodeShare(EncodeDeviceChange(bad_json)).ok());
  bad_json.fields.metadata_json = "{";
  EXPECT_FALSE(DecodeShare(EncodeDeviceChange(bad_json)).ok());
  DeviceChange bad_id = Create("no spaces", 5);
  EXPECT_FALSE(DecodeShare(EncodeDeviceChange(bad_id)).ok());
}

class DeviceApplyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("fp_device_apply_");
    auto c = Catalog::open((dir_ / "catalog.db").string(), clock_);
    ASSERT_TRUE(c.ok()) << c.status().message();
    catalog_ = std::move(c).value();
  }
  void TearDown() override {
    catalog_.reset();
    std::filesystem::remove_all(dir_);
  }
  Device Apply(const DeviceChange& c) {
    auto row = catalog_->apply_device_change(c);
    EXPECT_TRUE(row.ok()) << row.status().message();
    return row.ok() ? *row : Device{};
  }
  static void ExpectSameRow(const Device& a, const Device& b) {
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.type, b.type);
    EXPECT_EQ(a.location, b.location);
    EXPECT_EQ(a.metadata_json, b.metadata_json);
    EXPECT_EQ(a.config_json, b.config_json);
    EXPECT_EQ(a.created_at_ms, b.created_at_ms);
    EXPECT_EQ(a.updated_at_ms, b.updated_at_ms);
  }

  std::filesystem::path dir_;
  ManualClock clock_;
  std::unique_ptr<Catalog> catalog_;
};

TEST_F(DeviceApplyTest, TheSameChangeTwiceGivesTheSameRow) {
  const DeviceChange create = Create("pump-1", 1'000);
  clock_.advance(10'000);  // the row's times come from the change, never from this clock
  const Device first = Apply(create);
  EXPECT_EQ(first.created_at_ms, 1'000);
  EXPECT_EQ(first.updated_at_ms, 1'000);
  ExpectSameRow(Apply(create), first);

  DeviceChange patch;
  patch.kind = DeviceChange::Kind::kPatch;
  patch.device_id = "pump-1";
  patch.fields.metadata_json = R"({"b":{"y":2},"c":3})";
  patch.fields.merge_objects = true;
  patch.at_ms = 2'000;
  const Device patched = Apply(patch);
  EXPECT_EQ(patched.metadata_json, R"({"a":1,"b":{"x":1,"y":2},"c":3})");
  EXPECT_EQ(patched.name, "Pump 1");
  EXPECT_EQ(patched.created_at_ms, 1'000);
  EXPECT_EQ(patched.updated_at_ms, 2'000);
  ExpectSameRow(Apply(patch), patched);

  DeviceChange replace;
  replace.kind = DeviceChange::Kind::kReplace;
  replace.device_id = "pump-1";
  replace.fields.name = "Pump one";
  replace.fields.config_json = R"({"rate":9})";
  replace.at_ms = 3'000;
  const Device replaced = Apply(replace);
  EXPECT_EQ(replaced.name, "Pump one");
  EXPECT_EQ(replaced.config_json, R"({"rate":9})");
  EXPECT_EQ(replaced.type, "pump");  // fields the change does not carry stay
  ExpectSameRow(Apply(replace), replaced);

  // A create replayed after the updates (the same create again) replaces the fields it
  // carries; created_at stays the first one.
  const Device again = Apply(create);
  EXPECT_EQ(again.name, "Pump 1");
  EXPECT_EQ(again.created_at_ms, 1'000);
}

TEST_F(DeviceApplyTest, CreateOfADeviceRegisteredByAReportKeepsItsLiveFields) {
  Device reported;
  reported.device_id = "pump-2";
  reported.created_at_ms = reported.updated_at_ms = 500;
  ASSERT_TRUE(catalog_->apply_reports({&reported, 1}, {}, {}).ok());
  const Device row = Apply(Create("pump-2", 1'000));
  EXPECT_EQ(row.name, "Pump 1");
  EXPECT_EQ(row.created_at_ms, 500);
  EXPECT_EQ(row.updated_at_ms, 1'000);
}

TEST_F(DeviceApplyTest, AnUpdateOfAMissingDeviceIsNotFound) {
  DeviceChange put;
  put.kind = DeviceChange::Kind::kReplace;
  put.device_id = "nobody";
  put.fields.name = "x";
  put.at_ms = 1;
  EXPECT_EQ(catalog_->apply_device_change(put).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(catalog_->get_device("nobody").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace fp::cluster
