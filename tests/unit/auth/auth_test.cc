// The authsec pieces without a socket: the failed-authentication throttle (free failures,
// doubling, cap, one-at-a-time release, saturation, bounded table, address grouping), the
// session store (idle and absolute expiry, revocation and role change, logout) and the webhook
// address policy (every blocked kind, the allow-list, URL syntax).

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "alerting/webhook_client.h"
#include "auth/api_key_authenticator.h"
#include "auth/auth_throttle.h"
#include "auth/session_store.h"
#include "metrics/registry.h"
#include "unit/temp_dir.h"
#include "util/clock.h"

namespace fp {
namespace {

using Ms = AuthThrottle::Ms;

struct ThrottleFixture {
  metrics::Registry registry;
  metrics::Family<metrics::Counter>& failures = registry.counter("f", "f", {"transport"});
  metrics::Family<metrics::Counter>& throttled =
      registry.counter("t", "t", {"transport", "action"});
};

TEST(AuthThrottle, FreeFailuresThenDoublingUpToTheCapReleasedOneAtATime) {
  ThrottleFixture f;
  AuthThrottle t({Ms{10}, Ms{50}, /*free*/ 2, /*pending*/ 100}, f.failures, f.throttled);
  EXPECT_EQ(t.failed("10.0.0.1", "http"), Ms{0});
  EXPECT_EQ(t.failed("10.0.0.1", "http"), Ms{0});
  // Each later failure is released after the previous one: 10, +20, +40, +50, +50.
  const Ms expected[] = {Ms{10}, Ms{30}, Ms{70}, Ms{120}, Ms{170}};
  for (Ms want : expected) {
    const Ms got = t.failed("10.0.0.1", "http");
    EXPECT_LE(got, want);
    EXPECT_GE(got, want - Ms{5});
  }
  // Another address starts from scratch.
  EXPECT_EQ(t.failed("10.0.0.2", "http"), Ms{0});
  EXPECT_EQ(f.failures.with({"http"}).value(), 8);
  EXPECT_EQ(f.throttled.with({"http", "delayed"}).value(), 5);
}

TEST(AuthThrottle, SaturatedWhileTooManyRefusalsWait) {
  ThrottleFixture f;
  AuthThrottle t({Ms{10}, Ms{10}, 0, 3}, f.failures, f.throttled);
  EXPECT_FALSE(t.saturated("10.0.0.1", "mqtt"));
  for (int i = 0; i < 3; ++i) EXPECT_GT(t.failed("10.0.0.1", "mqtt").count(), 0);
  EXPECT_TRUE(t.saturated("10.0.0.1", "mqtt"));
  EXPECT_FALSE(t.saturated("10.0.0.9", "mqtt"));
  t.answered("10.0.0.1");
  EXPECT_FALSE(t.saturated("10.0.0.1", "mqtt"));
  EXPECT_EQ(f.throttled.with({"mqtt", "refused"}).value(), 1);
}

TEST(AuthThrottle, OffMeansCountedButNeverDelayed) {
  ThrottleFixture f;
  AuthThrottle t({Ms{0}, Ms{0}, 0, 1}, f.failures, f.throttled);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(t.failed("10.0.0.1", "http"), Ms{0});
  EXPECT_FALSE(t.saturated("10.0.0.1", "http"));
  EXPECT_EQ(f.failures.with({"http"}).value(), 50);
}

TEST(AuthThrottle, TheTableIsBounded) {
  ThrottleFixture f;
  AuthThrottle::Options o{Ms{10}, Ms{10}, 5, 16};
  o.max_addresses = 100;
  AuthThrottle t(o, f.failures, f.throttled);
  for (int i = 0; i < 10'000; ++i)
    t.failed("10." + std::to_string(i / 256 % 256) + "." + std::to_string(i % 256) + ".1", "http");
  EXPECT_LE(t.tracked_addresses(), 100u);
}

TEST(AuthThrottle, AddressesAreGroupedIpv6ByPrefix) {
  EXPECT_EQ(AuthThrottle::address_key("192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(AuthThrottle::address_key("::ffff:192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(AuthThrottle::address_key("2001:db8:1:2::5"),
            AuthThrottle::address_key("2001:db8:1:2:ffff::9"));
  EXPECT_NE(AuthThrottle::address_key("2001:db8:1:2::5"),
            AuthThrottle::address_key("2001:db8:1:3::5"));
}

TEST(AuthThrottle, RunAfterRunsLaterAndStopAnswersAtOnce) {
  ThrottleFixture f;
  auto t = std::make_unique<AuthThrottle>(AuthThrottle::Options{}, f.failures, f.throttled);
  std::atomic<int> ran{0};
  t->run_after(Ms{20}, [&] { ran += 1; });
  t->run_after(Ms{60'000}, [&] { ran += 10; });
  std::this_thread::sleep_for(Ms{200});
  EXPECT_EQ(ran.load(), 1);
  t->stop();
  EXPECT_EQ(ran.load(), 11);
  t->run_after(Ms{60'000}, [&] { ran += 100; });  // after stop: at once
  EXPECT_EQ(ran.load(), 111);
}

class SessionStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("fp_sess_");
    auto c = Catalog::open((dir_ / "catalog.db").string(), clock_);
    ASSERT_TRUE(c.ok()) << c.status().message();
    catalog_ = std::move(c).value();
    keys_ = std::make_unique<ApiKeyAuthenticator>(*catalog_, clock_, "seeded-admin-key");
    ASSERT_TRUE(keys_->load().ok());
  }
  void TearDown() override {
    keys_.reset();
    catalog_.reset();
    std::filesystem::remove_all(dir_);
  }
  ManualClock clock_;
  std::filesystem::path dir_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<ApiKeyAuthenticator> keys_;
};

TEST_F(SessionStoreTest, IdleAndAbsoluteExpiry) {
  SessionStore s(*keys_, clock_, {1000, 3000, 10});
  auto who = keys_->authenticate("Bearer seeded-admin-key");
  ASSERT_TRUE(who);
  auto a = s.create(*who);
  auto b = s.create(*who);
  EXPECT_NE(a.token, b.token);
  EXPECT_NE(a.session.csrf_token, b.session.csrf_token);
  for (int i = 0; i < 4; ++i) {
    clock_.advance(600);
    EXPECT_TRUE(s.use(b.token)) << i;  // kept alive by use
  }
  EXPECT_FALSE(s.use(a.token));  // idle for 2.4 s
  clock_.advance(600);           // 3.0 s after login
  EXPECT_FALSE(s.use(b.token));
  EXPECT_FALSE(s.use("fps_unknown"));
}

TEST_F(SessionStoreTest, RevocationRoleChangeAndLogoutEndSessions) {
  SessionStore s(*keys_, clock_, {});
  auto created = keys_->create("ops", ApiRole::kWrite);
  ASSERT_TRUE(created.ok());
  auto who = keys_->authenticate("Bearer " + created->secret);
  ASSERT_TRUE(who);
  auto one = s.create(*who);
  ASSERT_TRUE(s.use(one.token));
  ASSERT_TRUE(keys_->set_role(created->record.id, ApiRole::kRead).ok());
  EXPECT_FALSE(s.use(one.token));  // checked on use, without any listener

  who = keys_->authenticate("Bearer " + created->secret);
  auto two = s.create(*who);
  auto three = s.create(*who);
  s.end(two.token);
  EXPECT_FALSE(s.use(two.token));
  ASSERT_TRUE(s.use(three.token));
  s.end_for_key(created->record.id);
  EXPECT_FALSE(s.use(three.token));
  EXPECT_EQ(s.size(), 0u);
}

TEST_F(SessionStoreTest, AtMostMaxSessions) {
  SessionStore s(*keys_, clock_, {3'600'000, 3'600'000, 5});
  auto who = keys_->authenticate("Bearer seeded-admin-key");
  std::string first;
  for (int i = 0; i < 50; ++i) {
    auto c = s.create(*who);
    if (i == 0) first = c.token;
    clock_.advance(1);
  }
  EXPECT_LE(s.size(), 5u);
  EXPECT_FALSE(s.use(first));
}

TEST(SecretsEqual, ComparesWholeSecrets) {
  EXPECT_TRUE(secrets_equal("abc", "abc"));
  EXPECT_FALSE(secrets_equal("abc", "abd"));
  EXPECT_FALSE(secrets_equal("abc", "ab"));
  EXPECT_FALSE(secrets_equal("", "a"));
}

TEST(WebhookPolicy, RefusesEveryInternalKindUnlessAllowed) {
  set_webhook_policy({});
  for (const char* a : {"127.0.0.1",
                        "127.255.0.9",
                        "::1",
                        "0.0.0.0",
                        "::",
                        "169.254.169.254",
                        "169.254.1.1",
                        "fe80::1",
                        "10.0.0.1",
                        "172.31.255.255",
                        "192.168.0.1",
                        "100.64.0.1",
                        "100.100.100.200",
                        "fd00:ec2::254",
                        "fc00::1",
                        "::ffff:10.0.0.1",
                        "64:ff9b::7f00:1",
                        "224.0.0.1",
                        "ff02::1",
                        "255.255.255.255",
                        "192.0.0.192"})
    EXPECT_FALSE(webhook_address_refusal(a).empty()) << a;
  for (const char* a :
       {"8.8.8.8", "203.0.113.5", "172.32.0.1", "2001:4860:4860::8888", "hooks.example.com"})
    EXPECT_TRUE(webhook_address_refusal(a).empty()) << a;
  EXPECT_NE(webhook_address_refusal("169.254.169.254").find("metadata"), std::string::npos);

  set_webhook_policy({parse_cidr_list("127.0.0.0/8, fd00::/8").value(), ""});
  EXPECT_TRUE(webhook_address_refusal("127.0.0.1").empty());
  EXPECT_TRUE(webhook_address_refusal("::ffff:127.0.0.1").empty());
  EXPECT_TRUE(webhook_address_refusal("fd00:ec2::254").empty());
  EXPECT_FALSE(webhook_address_refusal("::1").empty());
  EXPECT_FALSE(webhook_address_refusal("10.0.0.1").empty());
  set_webhook_policy({});
}

TEST(WebhookPolicy, CidrListsAndUrls) {
  EXPECT_FALSE(parse_cidr_list("10.0.0.0/33").ok());
  EXPECT_FALSE(parse_cidr_list("10.0.0/8").ok());
  EXPECT_FALSE(parse_cidr_list("::/129").ok());
  EXPECT_FALSE(parse_cidr_list("10.0.0.0/").ok());
  EXPECT_EQ(parse_cidr_list("10.0.0.0/8,,::1").value().size(), 2u);
  EXPECT_EQ(parse_cidr_list("").value().size(), 0u);

  set_webhook_policy({});
  EXPECT_TRUE(webhook_url_problem("http://203.0.113.5:9000/hook").empty());
  EXPECT_TRUE(webhook_url_problem("https://hooks.example.com").empty());
  EXPECT_TRUE(webhook_url_problem("http://localhost/x").empty());  // a name: checked on delivery
  EXPECT_FALSE(webhook_url_problem("http://127.0.0.1/").empty());
  EXPECT_FALSE(webhook_url_problem("http://[::1]:22/").empty());
  EXPECT_FALSE(webhook_url_problem("ftp://x/").empty());
  EXPECT_FALSE(webhook_url_problem("http://user@203.0.113.5/").empty());
  EXPECT_FALSE(webhook_url_problem("http://203.0.113.5:0/").empty());
  EXPECT_FALSE(webhook_url_problem("http://203.0.113.5:99999/").empty());
  EXPECT_FALSE(webhook_url_problem("http://[::1/").empty());
  EXPECT_FALSE(webhook_url_problem("http:///x").empty());
}

}  // namespace
}  // namespace fp
