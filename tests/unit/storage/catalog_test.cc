#include "storage/catalog/catalog.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "storage/catalog/migrations.h"
#include "storage/catalog/sqlite.h"
#include "unit/temp_dir.h"

namespace fp {
namespace {

class CatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("fp_catalog_");
    path_ = (dir_ / "catalog.db").string();
    reopen();
  }
  void TearDown() override {
    catalog_.reset();
    std::filesystem::remove_all(dir_);
  }

  void reopen() {
    catalog_.reset();
    Result<std::unique_ptr<Catalog>> c = Catalog::open(path_, clock_);
    ASSERT_TRUE(c.ok()) << c.status().message();
    catalog_ = std::move(c).value();
  }

  // A raw connection to the same file, for looking under the hood and injecting faults.
  sqlite::Db raw() {
    Result<sqlite::Db> db = sqlite::Db::open(path_);
    EXPECT_TRUE(db.ok()) << db.status().message();
    return std::move(db).value();
  }

  static Device make(std::string id, std::string name = "", std::string type = "",
                     std::string location = "") {
    Device d;
    d.device_id = std::move(id);
    d.name = std::move(name);
    d.type = std::move(type);
    d.location = std::move(location);
    return d;
  }

  static std::vector<std::string> ids(const std::vector<Device>& ds) {
    std::vector<std::string> out;
    for (const Device& d : ds) out.push_back(d.device_id);
    return out;
  }

  std::filesystem::path dir_;
  std::string path_;
  ManualClock clock_;
  std::unique_ptr<Catalog> catalog_;
};

TEST_F(CatalogTest, OpenSetsWalFullSyncAndForeignKeys) {
  sqlite::Db db = raw();
  auto pragma = [&](const char* sql) {
    Result<sqlite::Statement> st = db.prepare(sql);
    EXPECT_TRUE(st.ok());
    EXPECT_TRUE(st->step().value());
    return st->text(0);
  };
  EXPECT_EQ(pragma("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(pragma("PRAGMA synchronous"), "2");  // FULL
  EXPECT_EQ(pragma("PRAGMA foreign_keys"), "1");
  EXPECT_EQ(pragma("PRAGMA busy_timeout"), "5000");
  EXPECT_EQ(pragma("PRAGMA user_version"), std::to_string(catalog::schema_migrations().size()));
}

TEST_F(CatalogTest, CreateStampsTimesAndGetReturnsEveryField) {
  Device d = make("dev-1", "Pump", "pump", "Hall A");
  d.metadata_json = R"({"a":1})";
  d.config_json = R"({"interval":30})";
  d.status = DeviceStatus::kOnline;
  d.status_reason = "heartbeat";
  d.last_seen_ms = 123;
  d.battery_level = 87.5;
  d.signal_strength = -70;
  d.geo = GeoPoint{52.5, 13.4};
  ASSERT_TRUE(catalog_->create_device(d).ok());

  Result<Device> got = catalog_->get_device("dev-1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->name, "Pump");
  EXPECT_EQ(got->type, "pump");
  EXPECT_EQ(got->location, "Hall A");
  EXPECT_EQ(got->metadata_json, d.metadata_json);
  EXPECT_EQ(got->config_json, d.config_json);
  EXPECT_EQ(got->status, DeviceStatus::kOnline);
  EXPECT_EQ(got->status_reason, "heartbeat");
  EXPECT_EQ(got->last_seen_ms, 123);
  EXPECT_EQ(got->battery_level, 87.5);
  EXPECT_EQ(got->signal_strength, -70);
  ASSERT_TRUE(got->geo.has_value());
  EXPECT_EQ(got->geo->lat, 52.5);
  EXPECT_EQ(got->geo->lon, 13.4);
  EXPECT_EQ(got->created_at_ms, clock_.now_ms());
  EXPECT_EQ(got->updated_at_ms, clock_.now_ms());

  ASSERT_TRUE(catalog_->create_device(make("dev-2")).ok());
  Result<Device> bare = catalog_->get_device("dev-2");
  ASSERT_TRUE(bare.ok());
  EXPECT_FALSE(bare->last_seen_ms || bare->battery_level || bare->signal_strength || bare->geo);
  EXPECT_EQ(bare->metadata_json, "{}");
  EXPECT_EQ(bare->status, DeviceStatus::kUnknown);
}

TEST_F(CatalogTest, CreateTwiceIsAlreadyExists) {
  ASSERT_TRUE(catalog_->create_device(make("dev-1", "first")).ok());
  Status s = catalog_->create_device(make("dev-1", "second"));
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(catalog_->get_device("dev-1")->name, "first");
  EXPECT_EQ(catalog_->count_devices().value(), 1);
}

TEST_F(CatalogTest, CreateRejectsMetadataThatIsNotAJsonObject) {
  Device d = make("dev-1");
  d.metadata_json = "[1,2]";
  EXPECT_EQ(catalog_->create_device(d).code(), StatusCode::kInvalidArgument);
  d.metadata_json = "{";
  EXPECT_EQ(catalog_->create_device(d).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(catalog_->count_devices().value(), 0);
}

TEST_F(CatalogTest, MissingDeviceIsNotFoundForGetUpdateDeleteAndHistory) {
  EXPECT_EQ(catalog_->get_device("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(catalog_->update_device("nope", {}).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(catalog_->delete_device("nope").code(), StatusCode::kNotFound);
  EXPECT_EQ(catalog_->status_history("nope", 0, INT64_MAX, 10).status().code(),
            StatusCode::kNotFound);
}

TEST_F(CatalogTest, PatchMergesMetadataPutReplacesIt) {
  Device d = make("dev-1", "old");
  d.metadata_json = R"({"a":1,"b":{"c":2,"d":3}})";
  d.config_json = R"({"x":1})";
  ASSERT_TRUE(catalog_->create_device(d).ok());
  clock_.advance(1000);

  DeviceUpdate patch;
  patch.metadata_json = R"({"b":{"c":null,"e":4},"f":5})";
  patch.merge_objects = true;
  Result<Device> merged = catalog_->update_device("dev-1", patch);
  ASSERT_TRUE(merged.ok()) << merged.status().message();
  EXPECT_EQ(merged->metadata_json, R"({"a":1,"b":{"d":3,"e":4},"f":5})");
  EXPECT_EQ(merged->config_json, R"({"x":1})");  // unset: untouched
  EXPECT_EQ(merged->name, "old");
  EXPECT_EQ(merged->updated_at_ms, clock_.now_ms());
  EXPECT_LT(merged->created_at_ms, merged->updated_at_ms);

  DeviceUpdate put;
  put.name = "new";
  put.metadata_json = R"({"only":true})";
  put.config_json = R"({})";
  Result<Device> replaced = catalog_->update_device("dev-1", put);
  ASSERT_TRUE(replaced.ok());
  EXPECT_EQ(replaced->metadata_json, R"({"only":true})");
  EXPECT_EQ(replaced->config_json, "{}");
  EXPECT_EQ(replaced->name, "new");
  EXPECT_EQ(catalog_->get_device("dev-1")->metadata_json, R"({"only":true})");

  DeviceUpdate bad;
  bad.config_json = "42";
  EXPECT_EQ(catalog_->update_device("dev-1", bad).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(CatalogTest, ListPaginatesWithCursorAcrossFilters) {
  for (int i = 0; i < 25; ++i) {
    char id[16];
    snprintf(id, sizeof id, "dev-%02d", i);
    Device d = make(id, "", i % 2 ? "sensor" : "pump", i % 3 ? "hall" : "yard");
    ASSERT_TRUE(catalog_->create_device(d).ok());
  }
  // Odd ids are sensors; of those, i % 3 != 0 are in the hall: 1 5 7 11 13 17 19 23.
  DeviceFilter f;
  f.type = "sensor";
  f.location = "hall";
  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  for (;;) {
    Result<DevicePage> page = catalog_->list_devices(f, cursor, 3);
    ASSERT_TRUE(page.ok()) << page.status().message();
    ++pages;
    for (const std::string& id : ids(page->devices)) seen.push_back(id);
    if (!page->next_cursor) break;
    EXPECT_EQ(page->devices.size(), 3u);
    cursor = *page->next_cursor;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, (std::vector<std::string>{"dev-01", "dev-05", "dev-07", "dev-11", "dev-13",
                                            "dev-17", "dev-19", "dev-23"}));

  // An exactly full last page has no cursor.
  Result<DevicePage> all = catalog_->list_devices({}, "", 25);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->devices.size(), 25u);
  EXPECT_FALSE(all->next_cursor);
}

TEST_F(CatalogTest, ListFiltersByStatusAndCaseInsensitiveQuery) {
  ASSERT_TRUE(catalog_->create_device(make("alpha", "Boiler Room", "thermo", "North")).ok());
  ASSERT_TRUE(catalog_->create_device(make("beta", "x", "PUMP", "South")).ok());
  ASSERT_TRUE(catalog_->create_device(make("gamma", "y", "valve", "EAST wing")).ok());
  ASSERT_TRUE(catalog_->create_device(make("100%_sure")).ok());
  StatusTransition t{"beta", DeviceStatus::kUnknown, DeviceStatus::kOnline, "hb", 1};
  ASSERT_TRUE(catalog_->apply_reports({}, {}, std::span(&t, 1)).ok());

  auto query = [&](DeviceFilter f) { return ids(catalog_->list_devices(f, "", 100)->devices); };
  EXPECT_EQ(query({.q = "boiler"}), std::vector<std::string>{"alpha"});
  EXPECT_EQ(query({.q = "pump"}), std::vector<std::string>{"beta"});
  EXPECT_EQ(query({.q = "East"}), std::vector<std::string>{"gamma"});
  EXPECT_EQ(query({.q = "AMM"}), std::vector<std::string>{"gamma"});
  EXPECT_EQ(query({.q = "%_"}), std::vector<std::string>{"100%_sure"});  // no LIKE wildcards
  EXPECT_EQ(query({.status = DeviceStatus::kOnline}), std::vector<std::string>{"beta"});
  EXPECT_EQ(query({.status = DeviceStatus::kUnknown, .q = "a"}),
            (std::vector<std::string>{"alpha", "gamma"}));
}

TEST_F(CatalogTest, ListSortsByAnyColumnAndPagesThroughTiesAndMissingValues) {
  // 13 devices: battery 0..5 twice (ties) and one without a battery (sorts lowest).
  std::vector<DeviceLiveUpdate> updates;
  for (int i = 0; i < 13; ++i) {
    char id[16];
    snprintf(id, sizeof id, "dev-%02d", i);
    ASSERT_TRUE(catalog_->create_device(make(id, "", "sensor", i % 2 ? "b-site" : "a-site")).ok());
    DeviceLiveUpdate u;
    u.device_id = id;
    u.last_seen_ms = 1000 + i;
    if (i < 12) u.battery_level = i % 6;
    updates.push_back(u);
  }
  ASSERT_TRUE(catalog_->apply_reports({}, updates, {}).ok());

  auto all_pages = [&](DeviceFilter f) {
    std::vector<std::string> seen;
    std::string cursor;
    for (int guard = 0; guard < 20; ++guard) {
      Result<DevicePage> page = catalog_->list_devices(f, cursor, 4);
      EXPECT_TRUE(page.ok()) << page.status().message();
      if (!page.ok()) break;
      for (const std::string& id : ids(page->devices)) seen.push_back(id);
      if (!page->next_cursor) break;
      cursor = *page->next_cursor;
    }
    return seen;
  };
  EXPECT_EQ(all_pages({.sort = DeviceSortKey::kBatteryLevel}),
            (std::vector<std::string>{"dev-12", "dev-00", "dev-06", "dev-01", "dev-07", "dev-02",
                                      "dev-08", "dev-03", "dev-09", "dev-04", "dev-10", "dev-05",
                                      "dev-11"}));
  EXPECT_EQ(all_pages({.sort = DeviceSortKey::kBatteryLevel, .descending = true}),
            (std::vector<std::string>{"dev-11", "dev-05", "dev-10", "dev-04", "dev-09", "dev-03",
                                      "dev-08", "dev-02", "dev-07", "dev-01", "dev-06", "dev-00",
                                      "dev-12"}));
  EXPECT_EQ(all_pages({.sort = DeviceSortKey::kLastSeen, .descending = true}).front(), "dev-12");
  std::vector<std::string> by_location = all_pages({.sort = DeviceSortKey::kLocation});
  ASSERT_EQ(by_location.size(), 13u);
  EXPECT_EQ(by_location[0], "dev-00");
  EXPECT_EQ(by_location[6], "dev-12");  // the 7 a-site devices first, by id
  EXPECT_EQ(by_location[7], "dev-01");
  std::vector<std::string> by_id_desc = all_pages({.descending = true});
  EXPECT_EQ(by_id_desc.front(), "dev-12");
  EXPECT_EQ(by_id_desc.back(), "dev-00");

  // A cursor of one order is refused by another.
  Result<DevicePage> first = catalog_->list_devices({.sort = DeviceSortKey::kName}, "", 2);
  ASSERT_TRUE(first.ok() && first->next_cursor);
  EXPECT_EQ(catalog_->list_devices({.sort = DeviceSortKey::kType}, *first->next_cursor, 2)
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(catalog_->list_devices({}, *first->next_cursor, 2).status().code(),
            StatusCode::kOk);  // any hex payload is a valid plain cursor: an id to start after
  EXPECT_EQ(parse_device_sort_key("battery_level"), DeviceSortKey::kBatteryLevel);
  EXPECT_EQ(parse_device_sort_key("nope"), std::nullopt);
}

TEST_F(CatalogTest, ListClampsLimitToOneThroughThousand) {
  ASSERT_TRUE(catalog_->create_device(make("a")).ok());
  ASSERT_TRUE(catalog_->create_device(make("b")).ok());
  Result<DevicePage> zero = catalog_->list_devices({}, "", 0);
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(ids(zero->devices), std::vector<std::string>{"a"});
  EXPECT_TRUE(zero->next_cursor);
  Result<DevicePage> huge = catalog_->list_devices({}, "", 1'000'000);
  ASSERT_TRUE(huge.ok());
  EXPECT_EQ(huge->devices.size(), 2u);
}

TEST_F(CatalogTest, GarbageCursorIsInvalidArgument) {
  ASSERT_TRUE(catalog_->create_device(make("a")).ok());
  for (std::string bad : {"x", "c1", "c1abc", "c1zz", "dev-1", "c1ABCD"}) {
    EXPECT_EQ(catalog_->list_devices({}, bad, 10).status().code(), StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST_F(CatalogTest, ApplyReportsIsOneTransactionAndRecordsTransitions) {
  ASSERT_TRUE(catalog_->create_device(make("old", "Old name")).ok());
  std::vector<Device> fresh = {make("new-1"), make("old", "ignored")};
  std::vector<DeviceLiveUpdate> updates(2);
  updates[0].device_id = "old";
  updates[0].last_seen_ms = 500;
  updates[0].battery_level = 50;
  updates[1].device_id = "new-1";
  updates[1].last_seen_ms = 600;
  std::vector<StatusTransition> transitions = {
      {"new-1", DeviceStatus::kUnknown, DeviceStatus::kOnline, "first heartbeat", 600},
      {"old", DeviceStatus::kUnknown, DeviceStatus::kAtRisk, "battery low", 500},
  };

  // A trigger that fails the last statement of the batch: nothing of it may stick.
  sqlite::Db db = raw();
  ASSERT_TRUE(db.exec("CREATE TRIGGER boom BEFORE INSERT ON status_history WHEN NEW.device_id = "
                      "'old' BEGIN SELECT RAISE(ABORT, 'injected'); END")
                  .ok());
  EXPECT_FALSE(catalog_->apply_reports(fresh, updates, transitions).ok());
  EXPECT_EQ(catalog_->count_devices().value(), 1);
  EXPECT_FALSE(catalog_->get_device("old")->last_seen_ms);

  ASSERT_TRUE(db.exec("DROP TRIGGER boom").ok());
  ASSERT_TRUE(catalog_->apply_reports(fresh, updates, transitions).ok());
  EXPECT_EQ(catalog_->count_devices().value(), 2);
  Result<Device> old = catalog_->get_device("old");
  EXPECT_EQ(old->name, "Old name");
  EXPECT_EQ(old->last_seen_ms, 500);
  EXPECT_EQ(old->battery_level, 50);
  EXPECT_EQ(old->status, DeviceStatus::kAtRisk);
  EXPECT_EQ(old->status_reason, "battery low");
  Result<Device> created = catalog_->get_device("new-1");
  EXPECT_EQ(created->status, DeviceStatus::kOnline);
  EXPECT_EQ(created->last_seen_ms, 600);
  EXPECT_EQ(created->created_at_ms, clock_.now_ms());

  Result<std::vector<StatusTransition>> h = catalog_->status_history("old", 0, 1000, 10);
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->size(), 1u);
  EXPECT_EQ((*h)[0].from, DeviceStatus::kUnknown);
  EXPECT_EQ((*h)[0].to, DeviceStatus::kAtRisk);
  EXPECT_EQ((*h)[0].reason, "battery low");
  EXPECT_EQ((*h)[0].at_ms, 500);
}

TEST_F(CatalogTest, LiveUpdateTouchesOnlySetFieldsAndFillsOnlyEmptyNameAndLocation) {
  Device d = make("named", "Keep", "", "");
  d.battery_level = 90;
  d.signal_strength = -60;
  d.geo = GeoPoint{1, 2};
  ASSERT_TRUE(catalog_->create_device(d).ok());
  DeviceLiveUpdate u;
  u.device_id = "named";
  u.last_seen_ms = 42;
  u.signal_strength = -80;
  u.name = "Replace?";
  u.location = "Roof";
  DeviceLiveUpdate ghost;
  ghost.device_id = "ghost";  // unknown devices are skipped, not created
  std::vector<DeviceLiveUpdate> updates = {u, ghost};
  ASSERT_TRUE(catalog_->apply_reports({}, updates, {}).ok());

  Result<Device> got = catalog_->get_device("named");
  EXPECT_EQ(got->name, "Keep");
  EXPECT_EQ(got->location, "Roof");
  EXPECT_EQ(got->last_seen_ms, 42);
  EXPECT_EQ(got->battery_level, 90);
  EXPECT_EQ(got->signal_strength, -80);
  ASSERT_TRUE(got->geo);
  EXPECT_EQ(got->geo->lat, 1);
  EXPECT_EQ(catalog_->count_devices().value(), 1);
}

TEST_F(CatalogTest, StatusHistoryReturnsNewestLimitOldestFirst) {
  ASSERT_TRUE(catalog_->create_device(make("dev")).ok());
  std::vector<StatusTransition> ts;
  for (int i = 1; i <= 10; ++i) {
    ts.push_back(
        {"dev", DeviceStatus::kOnline, DeviceStatus::kOffline, std::to_string(i), i * 100});
  }
  ASSERT_TRUE(catalog_->apply_reports({}, {}, ts).ok());

  auto reasons = [&](int64_t since, int64_t until, int limit) {
    Result<std::vector<StatusTransition>> h = catalog_->status_history("dev", since, until, limit);
    std::vector<std::string> out;
    for (const StatusTransition& t : h.value()) out.push_back(t.reason);
    return out;
  };
  EXPECT_EQ(reasons(0, 2000, 3), (std::vector<std::string>{"8", "9", "10"}));
  EXPECT_EQ(reasons(200, 500, 10), (std::vector<std::string>{"2", "3", "4", "5"}));
  EXPECT_EQ(reasons(200, 500, 2), (std::vector<std::string>{"4", "5"}));
  EXPECT_TRUE(reasons(0, 2000, 0).empty());
}

TEST_F(CatalogTest, DeleteRemovesDeviceAndItsHistory) {
  ASSERT_TRUE(catalog_->create_device(make("dev")).ok());
  StatusTransition t{"dev", DeviceStatus::kUnknown, DeviceStatus::kOnline, "", 1};
  ASSERT_TRUE(catalog_->apply_reports({}, {}, std::span(&t, 1)).ok());
  ASSERT_TRUE(catalog_->delete_device("dev").ok());
  EXPECT_EQ(catalog_->get_device("dev").status().code(), StatusCode::kNotFound);

  // Re-created under the same id, it starts with an empty history.
  ASSERT_TRUE(catalog_->create_device(make("dev")).ok());
  EXPECT_TRUE(catalog_->status_history("dev", 0, INT64_MAX, 10).value().empty());
}

TEST_F(CatalogTest, ApiKeysRoundTripAndRevoke) {
  ApiKeyRecord k{"key_1", "ops", ApiRole::kAdmin, "aa11", 0, false};
  ASSERT_TRUE(catalog_->put_api_key(k).ok());
  clock_.advance(10);
  ASSERT_TRUE(catalog_->put_api_key({"key_2", "ci", ApiRole::kWrite, "bb22", 0, false}).ok());

  Result<std::vector<ApiKeyRecord>> keys = catalog_->list_api_keys();
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].id, "key_1");
  EXPECT_EQ((*keys)[0].name, "ops");
  EXPECT_EQ((*keys)[0].role, ApiRole::kAdmin);
  EXPECT_EQ((*keys)[0].key_hash, "aa11");
  EXPECT_EQ((*keys)[0].created_at_ms, clock_.now_ms() - 10);
  EXPECT_FALSE((*keys)[0].revoked);
  EXPECT_EQ((*keys)[1].role, ApiRole::kWrite);

  ASSERT_TRUE(catalog_->revoke_api_key("key_1").ok());
  EXPECT_TRUE(catalog_->list_api_keys().value()[0].revoked);
  EXPECT_EQ(catalog_->revoke_api_key("key_x").code(), StatusCode::kNotFound);

  // put replaces by id, but a second id with the same hash is refused.
  k.role = ApiRole::kRead;
  ASSERT_TRUE(catalog_->put_api_key(k).ok());
  EXPECT_EQ(catalog_->list_api_keys().value()[0].role, ApiRole::kRead);
  EXPECT_EQ(catalog_->put_api_key({"key_3", "dup", ApiRole::kRead, "bb22", 1, false}).code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(catalog_->list_api_keys().value().size(), 2u);
}

TEST_F(CatalogTest, ApiRoleStringsRoundTrip) {
  for (ApiRole r : {ApiRole::kRead, ApiRole::kWrite, ApiRole::kAdmin}) {
    EXPECT_EQ(parse_api_role(to_string(r)), r);
  }
  EXPECT_EQ(to_string(ApiRole::kWrite), "write");
  EXPECT_FALSE(parse_api_role("root"));
  EXPECT_FALSE(parse_api_role("Admin"));
}

TEST_F(CatalogTest, DeleteAllKeepsKeys) {
  ASSERT_TRUE(catalog_->create_device(make("dev")).ok());
  StatusTransition t{"dev", DeviceStatus::kUnknown, DeviceStatus::kOnline, "", 1};
  ASSERT_TRUE(catalog_->apply_reports({}, {}, std::span(&t, 1)).ok());
  ASSERT_TRUE(catalog_->put_api_key({"key_1", "ops", ApiRole::kAdmin, "aa11", 1, false}).ok());

  ASSERT_TRUE(catalog_->delete_all_data().ok());
  EXPECT_EQ(catalog_->count_devices().value(), 0);
  EXPECT_EQ(catalog_->list_api_keys().value().size(), 1u);
  sqlite::Db db = raw();
  Result<sqlite::Statement> st = db.prepare("SELECT count(*) FROM status_history");
  ASSERT_TRUE(st.ok() && st->step().value());
  EXPECT_EQ(st->int64(0), 0);
}

TEST_F(CatalogTest, ReopenRunsNoMigrationTwiceAndKeepsData) {
  const int latest = static_cast<int>(catalog::schema_migrations().size());
  ASSERT_TRUE(catalog_->create_device(make("dev", "kept")).ok());
  EXPECT_EQ(catalog_->schema_version(), latest);
  reopen();
  EXPECT_EQ(catalog_->schema_version(), latest);
  EXPECT_EQ(catalog_->get_device("dev")->name, "kept");

  // With a longer list, only the new entries run, and only once.
  sqlite::Db db = raw();
  std::vector<std::string_view> list(catalog::schema_migrations().begin(),
                                     catalog::schema_migrations().end());
  list.push_back("CREATE TABLE runs (n INTEGER); INSERT INTO runs VALUES (1);");
  EXPECT_EQ(catalog::migrate(db, list).value(), latest + 1);
  EXPECT_EQ(catalog::migrate(db, list).value(), latest + 1);
  Result<sqlite::Statement> st = db.prepare("SELECT count(*) FROM runs");
  ASSERT_TRUE(st.ok() && st->step().value());
  EXPECT_EQ(st->int64(0), 1);
}

TEST_F(CatalogTest, FailedMigrationLeavesDatabaseUntouched) {
  sqlite::Db db = raw();
  std::vector<std::string_view> list(catalog::schema_migrations().begin(),
                                     catalog::schema_migrations().end());
  list.push_back("CREATE TABLE half (n INTEGER);");
  list.push_back("THIS IS NOT SQL;");
  EXPECT_FALSE(catalog::migrate(db, list).ok());
  EXPECT_FALSE(db.prepare("SELECT * FROM half").ok());
  list.pop_back();
  EXPECT_EQ(catalog::migrate(db, list).value(), static_cast<int>(list.size()));
}

TEST_F(CatalogTest, DatabaseFromANewerBuildIsRefused) {
  catalog_.reset();
  ASSERT_TRUE(raw().exec("PRAGMA user_version=99").ok());
  Result<std::unique_ptr<Catalog>> c = Catalog::open(path_, clock_);
  EXPECT_EQ(c.status().code(), StatusCode::kCorruption);
}

TEST_F(CatalogTest, ConcurrentReadersSeeCommittedWrites) {
  std::atomic<bool> done = false;
  std::atomic<int> failures = 0;
  std::vector<std::thread> readers;
  for (int i = 0; i < 8; ++i) {  // more threads than pooled connections
    readers.emplace_back([&] {
      while (!done) {
        Result<int64_t> n = catalog_->count_devices();
        Result<DevicePage> page = catalog_->list_devices({}, "", 5);
        if (!n.ok() || !page.ok()) ++failures;
      }
    });
  }
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(catalog_->create_device(make("dev-" + std::to_string(i))).ok());
  }
  done = true;
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(catalog_->count_devices().value(), 50);
}

TEST_F(CatalogTest, AnAlertIsOnlyReplacedByANewerVersion) {
  Alert a;
  a.id = 7;
  a.rule_id = "hot";
  a.device_id = "d1";
  a.started_at_ms = a.updated_at_ms = 1000;
  a.version = 2;
  a.state = AlertState::kAcknowledged;
  ASSERT_TRUE(catalog_->put_alert(a).ok());
  Alert older = a;
  older.version = 1;
  older.state = AlertState::kFiring;
  ASSERT_TRUE(catalog_->put_alert(older).ok());  // late write of an older state: ignored
  EXPECT_EQ(catalog_->get_alert(7)->state, AlertState::kAcknowledged);
  a.version = 3;
  a.state = AlertState::kResolved;
  a.resolved_at_ms = 2000;
  ASSERT_TRUE(catalog_->put_alert(a).ok());
  EXPECT_EQ(catalog_->get_alert(7)->state, AlertState::kResolved);
  EXPECT_EQ(*catalog_->get_alert(7)->resolved_at_ms, 2000);
  EXPECT_TRUE(catalog_->load_open_alerts()->empty());
  EXPECT_EQ(*catalog_->max_alert_id(), 7);
  EXPECT_EQ(catalog_->get_alert(8).status().code(), StatusCode::kNotFound);
}

TEST_F(CatalogTest, AlertFiltersAndKeysetPages) {
  for (int i = 1; i <= 5; ++i) {
    Alert a;
    a.id = i;
    a.device_id = i % 2 ? "odd" : "even";
    a.severity = i == 5 ? Severity::kCritical : Severity::kInfo;
    a.started_at_ms = a.updated_at_ms = i * 1000;
    a.version = 1;
    ASSERT_TRUE(catalog_->put_alert(a).ok());
  }
  AlertQuery q;
  q.device_id = "odd";
  auto ids = [&](const AlertQuery& query) {
    std::vector<int64_t> out;
    auto page = catalog_->list_alerts(query);
    EXPECT_TRUE(page.ok());
    for (const Alert& a : page->alerts) out.push_back(a.id);
    return out;
  };
  EXPECT_EQ(ids(q), (std::vector<int64_t>{5, 3, 1}));
  q.severity = Severity::kInfo;
  EXPECT_EQ(ids(q), (std::vector<int64_t>{3, 1}));
  AlertQuery since;
  since.since_ms = 4000;
  EXPECT_EQ(ids(since), (std::vector<int64_t>{5, 4}));
  AlertQuery page;
  page.limit = 2;
  auto first = catalog_->list_alerts(page);
  EXPECT_EQ(*first->next_before, 4);
  page.before_id = first->next_before;
  EXPECT_EQ(ids(page), (std::vector<int64_t>{3, 2}));
}

TEST_F(CatalogTest, DeadLettersRulesAndSettings) {
  DeadLetter d;
  d.alert_id = 3;
  d.url = "http://x/hook";
  d.payload = "{}";
  d.attempts = 5;
  auto id = catalog_->put_dead_letter(d);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(catalog_->get_dead_letter(*id)->attempts, 5);
  EXPECT_EQ(catalog_->list_dead_letters(10)->size(), 1u);
  EXPECT_TRUE(catalog_->delete_dead_letter(*id).ok());
  EXPECT_EQ(catalog_->delete_dead_letter(*id).code(), StatusCode::kNotFound);

  ASSERT_TRUE(catalog_->put_rule({"r1", "{}", 1, 1}).ok());
  ASSERT_TRUE(catalog_->put_rule({"r1", "{\"a\":1}", 1, 2}).ok());
  auto rules = catalog_->list_rules();
  ASSERT_EQ(rules->size(), 1u);
  EXPECT_EQ((*rules)[0].json, "{\"a\":1}");
  EXPECT_EQ(catalog_->delete_rule("nope").code(), StatusCode::kNotFound);

  EXPECT_FALSE(catalog_->get_setting("k")->has_value());
  ASSERT_TRUE(catalog_->put_setting("k", "v").ok());
  EXPECT_EQ(**catalog_->get_setting("k"), "v");
}

TEST_F(CatalogTest, StatusHistoryScanIsOrderedByDeviceThenTime) {
  ASSERT_TRUE(catalog_->create_device(make("b")).ok());
  ASSERT_TRUE(catalog_->create_device(make("a")).ok());
  std::vector<StatusTransition> ts = {
      {"b", DeviceStatus::kUnknown, DeviceStatus::kOnline, "", 100},
      {"a", DeviceStatus::kUnknown, DeviceStatus::kOnline, "", 200},
      {"a", DeviceStatus::kOnline, DeviceStatus::kOffline, "", 50},
      {"b", DeviceStatus::kOnline, DeviceStatus::kOffline, "", 300}};
  ASSERT_TRUE(catalog_->apply_reports({}, {}, ts).ok());
  std::vector<std::string> seen;
  ASSERT_TRUE(catalog_
                  ->scan_status_history(100,
                                        [&](const StatusTransition& t) {
                                          seen.push_back(t.device_id + "@" +
                                                         std::to_string(t.at_ms));
                                        })
                  .ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"a@200", "b@100", "b@300"}));
}

}  // namespace
}  // namespace fp
