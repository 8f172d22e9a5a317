// The schema v5 part of the catalog: an alert's condition time round trip (and NULL in rows of
// an older schema), and the webhook delivery queue: stored with the alert in one transaction,
// updated, moved to the dead letters and back, listed in id order, wiped with the data.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "storage/catalog/catalog.h"
#include "storage/catalog/migrations.h"
#include "storage/catalog/sqlite.h"
#include "unit/temp_dir.h"

namespace fp {
namespace {

class CatalogWebhooksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("fp_catwh_");
    path_ = (dir_ / "catalog.db").string();
    reopen();
  }
  void TearDown() override {
    catalog_.reset();
    std::filesystem::remove_all(dir_);
  }
  void reopen() {
    catalog_.reset();
    auto c = Catalog::open(path_, clock_);
    ASSERT_TRUE(c.ok()) << c.status().message();
    catalog_ = std::move(c).value();
  }
  static Alert alert(int64_t id, int64_t version = 1) {
    Alert a;
    a.id = id;
    a.rule_id = "hot";
    a.device_id = "d1";
    a.started_at_ms = a.updated_at_ms = 2'000;
    a.condition_at_ms = 1'000;
    a.version = version;
    return a;
  }
  static WebhookDelivery delivery(const std::string& url) {
    WebhookDelivery d;
    d.alert_id = 1;
    d.rule_id = "hot";
    d.url = url;
    d.payload = R"({"event":"alert.firing"})";
    d.created_at_ms = d.next_attempt_ms = 2'000;
    return d;
  }

  ManualClock clock_;
  std::filesystem::path dir_;
  std::string path_;
  std::unique_ptr<Catalog> catalog_;
};

TEST_F(CatalogWebhooksTest, ConditionTimeRoundTrips) {
  ASSERT_TRUE(catalog_->put_alert(alert(1)).ok());
  EXPECT_EQ(catalog_->get_alert(1)->condition_at_ms, 1'000);
  Alert none = alert(2);
  none.condition_at_ms = 0;
  ASSERT_TRUE(catalog_->put_alert(none).ok());
  reopen();
  EXPECT_EQ(catalog_->get_alert(2)->condition_at_ms, 0);  // stored as NULL
  EXPECT_EQ(catalog_->list_alerts({})->alerts[1].condition_at_ms, 1'000);
  EXPECT_EQ(catalog_->load_open_alerts()->at(0).condition_at_ms, 1'000);
}

TEST_F(CatalogWebhooksTest, AnOlderDatabaseIsMigratedAndItsAlertsHaveNoConditionTime) {
  catalog_.reset();
  std::filesystem::remove(path_);
  {
    auto db = sqlite::Db::open(path_);
    ASSERT_TRUE(db.ok());
    auto all = catalog::schema_migrations();
    ASSERT_TRUE(catalog::migrate(*db, all.subspan(0, 3)).ok());  // schema v3
    ASSERT_TRUE(db->exec("INSERT INTO alerts (id, device_id, severity, state, started_at, "
                         "updated_at, version) VALUES (7, 'd', 'info', 'firing', 5, 5, 1)")
                    .ok());
  }
  reopen();
  EXPECT_EQ(catalog_->schema_version(),
            static_cast<int>(catalog::schema_migrations().size()));  // migrated through v5 on
  EXPECT_EQ(catalog_->get_alert(7)->condition_at_ms, 0);
  EXPECT_EQ(catalog_->get_alert(7)->started_at_ms, 5);
}

TEST_F(CatalogWebhooksTest, DeliveriesAreStoredWithTheAlertAndSurviveAReopen) {
  std::vector<WebhookDelivery> ds = {delivery("http://a/"), delivery("http://b/")};
  ASSERT_TRUE(catalog_->put_alert_with_deliveries(alert(1), ds).ok());
  EXPECT_GT(ds[0].id, 0);
  EXPECT_GT(ds[1].id, ds[0].id);
  EXPECT_EQ(catalog_->get_alert(1)->rule_id, "hot");
  reopen();
  auto rows = catalog_->load_deliveries(0, 10);
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].url, "http://a/");
  EXPECT_EQ((*rows)[0].payload, R"({"event":"alert.firing"})");
  EXPECT_EQ((*rows)[0].first_attempt_ms, 0);
  EXPECT_EQ(catalog_->load_deliveries(ds[0].id, 10)->size(), 1u);
  EXPECT_EQ(catalog_->load_deliveries(0, 1)->size(), 1u);

  WebhookDelivery d = (*rows)[0];
  d.attempts = 2;
  d.last_error = "HTTP 503";
  d.first_attempt_ms = 2'100;
  d.next_attempt_ms = 9'000;
  ASSERT_TRUE(catalog_->update_delivery(d).ok());
  WebhookDelivery back = catalog_->load_deliveries(0, 1)->at(0);
  EXPECT_EQ(back.attempts, 2);
  EXPECT_EQ(back.last_error, "HTTP 503");
  EXPECT_EQ(back.first_attempt_ms, 2'100);
  EXPECT_EQ(back.next_attempt_ms, 9'000);

  ASSERT_TRUE(catalog_->delete_delivery(ds[1].id).ok());
  EXPECT_TRUE(catalog_->delete_delivery(ds[1].id).ok());  // already gone: fine
  EXPECT_EQ(catalog_->load_deliveries(0, 10)->size(), 1u);
}

TEST_F(CatalogWebhooksTest, TheAlertAndItsDeliveriesAreStoredTogetherOrNotAtAll) {
  {
    auto db = sqlite::Db::open(path_);  // a fault: the second delivery's insert fails
    ASSERT_TRUE(db->exec("CREATE TRIGGER fail BEFORE INSERT ON webhook_queue "
                         "WHEN NEW.url = 'http://fail/' BEGIN SELECT RAISE(ABORT, 'injected'); "
                         "END;")
                    .ok());
  }
  std::vector<WebhookDelivery> ds = {delivery("http://a/"), delivery("http://fail/")};
  EXPECT_FALSE(catalog_->put_alert_with_deliveries(alert(3), ds).ok());
  EXPECT_EQ(catalog_->get_alert(3).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(catalog_->load_deliveries(0, 10)->empty());
  EXPECT_EQ(ds[0].id, 0);  // not stored: the caller keeps them in memory only
  // A change older than the stored alert leaves the alert alone but still queues its rows.
  ASSERT_TRUE(catalog_->put_alert(alert(1, 5)).ok());
  std::vector<WebhookDelivery> ok = {delivery("http://a/")};
  ASSERT_TRUE(catalog_->put_alert_with_deliveries(alert(1, 2), ok).ok());
  EXPECT_EQ(catalog_->get_alert(1)->version, 5);
  EXPECT_EQ(catalog_->load_deliveries(0, 10)->size(), 1u);
}

TEST_F(CatalogWebhooksTest, DeadLetteringMovesTheRowAndRetryMovesItBack) {
  std::vector<WebhookDelivery> ds = {delivery("http://a/")};
  ASSERT_TRUE(catalog_->put_alert_with_deliveries(alert(1), ds).ok());
  DeadLetter dl;
  dl.alert_id = 1;
  dl.url = "http://a/";
  dl.payload = ds[0].payload;
  dl.attempts = 5;
  auto id = catalog_->dead_letter_delivery(ds[0].id, dl);
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(catalog_->load_deliveries(0, 10)->empty());
  EXPECT_EQ(catalog_->list_dead_letters(10)->size(), 1u);

  WebhookDelivery again = delivery("http://a/");
  ASSERT_TRUE(catalog_->requeue_dead_letter(*id, again).ok());
  EXPECT_GT(again.id, 0);
  EXPECT_TRUE(catalog_->list_dead_letters(10)->empty());
  EXPECT_EQ(catalog_->load_deliveries(0, 10)->size(), 1u);
  WebhookDelivery missing = delivery("http://a/");
  EXPECT_EQ(catalog_->requeue_dead_letter(*id, missing).code(), StatusCode::kNotFound);
  EXPECT_EQ(catalog_->load_deliveries(0, 10)->size(), 1u);  // nothing added

  ASSERT_TRUE(catalog_->delete_all_data().ok());
  EXPECT_TRUE(catalog_->load_deliveries(0, 10)->empty());
}

}  // namespace
}  // namespace fp
