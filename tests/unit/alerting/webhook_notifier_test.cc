// WebhookNotifier with an injected HTTP client: attempts, exponential backoff, dead letters
// and their retry, and the durable queue (resumed after a restart, backlog beyond memory). (The
// real client against a real receiver is in the integration tests.)

#include "alerting/webhook_notifier.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <thread>

#include "unit/temp_dir.h"

namespace fp {
namespace {

using namespace std::chrono_literals;
using SteadyTime = std::chrono::steady_clock::time_point;

class WebhookNotifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("fp_notify_");
    catalog_ = std::move(Catalog::open((dir_ / "catalog.db").string(), clock_)).value();
  }
  void TearDown() override {
    catalog_.reset();
    std::filesystem::remove_all(dir_);
  }

  // A post function that fails the first `failures` calls (counted over the test, across
  // notifiers), recording when each came.
  WebhookNotifier::PostFn post(int failures) {
    return [this, failures](std::string_view, std::string_view body, std::chrono::milliseconds) {
      std::lock_guard lock(mu_);
      calls_.push_back(std::chrono::steady_clock::now());
      bodies_.emplace_back(body);
      return static_cast<int>(calls_.size()) <= failures ? PostResult{500, ""}
                                                         : PostResult{200, ""};
    };
  }
  size_t calls() {
    std::lock_guard lock(mu_);
    return calls_.size();
  }
  static AlertChange change() {
    AlertChange c;
    c.alert.id = 42;
    c.alert.rule_id = "hot";
    c.alert.device_id = "d1";
    c.rule_name = "too hot";
    c.webhooks = {"http://127.0.0.1:9/hook"};
    return c;
  }
  template <typename Pred>
  static bool eventually(Pred p) {
    for (int i = 0; i < 500; ++i) {
      if (p()) return true;
      std::this_thread::sleep_for(5ms);
    }
    return p();
  }

  ManualClock clock_;
  std::filesystem::path dir_;
  std::unique_ptr<Catalog> catalog_;
  std::mutex mu_;
  std::vector<SteadyTime> calls_;
  std::vector<std::string> bodies_;
};

TEST_F(WebhookNotifierTest, RetriesWithDoublingBackoffThenDeadLetters) {
  WebhookNotifier n(*catalog_, clock_, {4, 40ms, 1000ms, 1000ms, 100}, post(100));
  n.start();
  n.notify(change());
  ASSERT_TRUE(eventually([&] { return n.stats().dead_lettered == 1; }));
  ASSERT_EQ(calls(), 4u);
  // Waits of 40, 80 and 160 ms between the attempts (at least).
  EXPECT_GE(calls_[1] - calls_[0], 40ms);
  EXPECT_GE(calls_[2] - calls_[1], 80ms);
  EXPECT_GE(calls_[3] - calls_[2], 160ms);
  auto letters = catalog_->list_dead_letters(10);
  ASSERT_EQ(letters->size(), 1u);
  EXPECT_EQ((*letters)[0].attempts, 4);
  EXPECT_EQ((*letters)[0].last_error, "HTTP 500");
  EXPECT_EQ((*letters)[0].alert_id, 42);
  EXPECT_EQ((*letters)[0].payload, WebhookNotifier::payload(change()));
  EXPECT_EQ(n.stats().failed_attempts, 4u);
  n.stop();
}

TEST_F(WebhookNotifierTest, BackoffIsCapped) {
  // 7 attempts 10 ms apart: 60 ms in all, where doubling without the cap would take 630 ms.
  WebhookNotifier n(*catalog_, clock_, {7, 10ms, 10ms, 1000ms, 100}, post(100));
  n.start();
  n.notify(change());
  ASSERT_TRUE(eventually([&] { return n.stats().dead_lettered == 1; }));
  ASSERT_EQ(calls(), 7u);
  EXPECT_GE(calls_[6] - calls_[0], 60ms);
  EXPECT_LT(calls_[6] - calls_[0], 400ms);
}

TEST_F(WebhookNotifierTest, DeadLetterRetryDeliversTheSameBody) {
  WebhookNotifier n(*catalog_, clock_, {1, 10ms, 10ms, 1000ms, 100}, post(1));
  n.start();
  n.notify(change());
  ASSERT_TRUE(eventually([&] { return n.stats().dead_lettered == 1; }));
  const int64_t id = (*catalog_->list_dead_letters(10))[0].id;
  ASSERT_TRUE(n.retry_dead_letter(id).ok());
  ASSERT_TRUE(eventually([&] { return n.stats().delivered == 1; }));
  EXPECT_EQ(bodies_[1], bodies_[0]);
  EXPECT_TRUE(catalog_->list_dead_letters(10)->empty());
  EXPECT_EQ(n.retry_dead_letter(id).code(), StatusCode::kNotFound);
}

TEST_F(WebhookNotifierTest, PayloadDescribesTheChange) {
  const std::string body = WebhookNotifier::payload(change());
  EXPECT_EQ(body.rfind(R"({"event":"alert.firing","rule":{"id":"hot","name":"too hot"},)", 0), 0u)
      << body;
  EXPECT_NE(body.find(R"("alert":{"id":"42")"), std::string::npos);
  AlertChange manual = change();
  manual.alert.rule_id.clear();
  EXPECT_NE(WebhookNotifier::payload(manual).find(R"("rule":null)"), std::string::npos);
}

TEST_F(WebhookNotifierTest, AFullQueueKeepsTheRestInTheCatalogAndDeliversItLater) {
  WebhookNotifier n(*catalog_, clock_, {1, 10ms, 10ms, 1000ms, 2}, post(0));
  AlertChange c = change();
  c.webhooks = {"http://a/", "http://b/", "http://c/"};
  n.notify(c);
  EXPECT_EQ(n.stats().pending, 2u);  // memory holds 2; the third waits in the catalog
  EXPECT_EQ(n.stats().dropped, 0u);
  EXPECT_EQ(catalog_->load_deliveries(0, 10)->size(), 3u);
  n.start();
  ASSERT_TRUE(eventually([&] { return n.stats().delivered == 3; }));
  EXPECT_EQ(calls(), 3u);
  EXPECT_TRUE(catalog_->load_deliveries(0, 10)->empty());
}

TEST_F(WebhookNotifierTest, APendingDeliveryIsResumedAfterARestartWithItsAttempts) {
  {
    WebhookNotifier n(*catalog_, clock_, {3, 10'000ms, 10'000ms, 1000ms, 100}, post(100));
    ASSERT_TRUE(n.restore().ok());
    n.start();
    n.notify(change());
    ASSERT_TRUE(eventually([&] { return n.stats().failed_attempts == 1; }));
    n.stop();  // or a crash: the row is already stored with its failed attempt
  }
  auto rows = catalog_->load_deliveries(0, 10);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].attempts, 1);
  EXPECT_EQ((*rows)[0].last_error, "HTTP 500");
  EXPECT_EQ((*rows)[0].next_attempt_ms, clock_.now_ms() + 10'000);
  // The next start: due in 10 s by the stored time; the clock says it is due now.
  clock_.advance(10'000);
  WebhookNotifier n(*catalog_, clock_, {3, 10ms, 10ms, 1000ms, 100}, post(2));  // 1 more fails
  ASSERT_TRUE(n.restore().ok());
  EXPECT_EQ(n.stats().pending, 1u);
  n.start();
  ASSERT_TRUE(eventually([&] { return n.stats().delivered == 1; }));
  EXPECT_EQ(n.stats().failed_attempts, 1u);  // attempt 2 failed, attempt 3 delivered
  EXPECT_TRUE(catalog_->load_deliveries(0, 10)->empty());
  EXPECT_TRUE(catalog_->list_dead_letters(10)->empty());
}

TEST_F(WebhookNotifierTest, AttemptsBeforeARestartCountTowardsTheDeadLetter) {
  {
    WebhookNotifier n(*catalog_, clock_, {3, 10'000ms, 10'000ms, 1000ms, 100}, post(100));
    n.start();
    n.notify(change());
    ASSERT_TRUE(eventually([&] { return n.stats().failed_attempts == 1; }));
  }
  clock_.advance(10'000);  // the stored retry time has come
  WebhookNotifier n(*catalog_, clock_, {3, 10ms, 10ms, 1000ms, 100}, post(100));
  ASSERT_TRUE(n.restore().ok());
  n.start();
  ASSERT_TRUE(eventually([&] { return n.stats().dead_lettered == 1; }));
  EXPECT_EQ(calls(), 3u);  // 1 before, 2 after
  auto letters = catalog_->list_dead_letters(10);
  ASSERT_EQ(letters->size(), 1u);
  EXPECT_EQ((*letters)[0].attempts, 3);
  EXPECT_TRUE(catalog_->load_deliveries(0, 10)->empty());  // moved, not copied
}

TEST_F(WebhookNotifierTest, ARetriedDeadLetterIsStoredInTheQueueUntilDelivered) {
  WebhookNotifier n(*catalog_, clock_, {1, 10ms, 10ms, 1000ms, 100}, post(1));
  n.start();
  n.notify(change());
  ASSERT_TRUE(eventually([&] { return n.stats().dead_lettered == 1; }));
  n.stop();
  const int64_t id = (*catalog_->list_dead_letters(10))[0].id;
  ASSERT_TRUE(n.retry_dead_letter(id).ok());  // not started: waits in the queue
  EXPECT_TRUE(catalog_->list_dead_letters(10)->empty());
  ASSERT_EQ(catalog_->load_deliveries(0, 10)->size(), 1u);
  n.start();
  ASSERT_TRUE(eventually([&] { return n.stats().delivered == 1; }));
  EXPECT_TRUE(catalog_->load_deliveries(0, 10)->empty());
}

}  // namespace
}  // namespace fp
