// Session assertions (src/cluster/session_assertion.h): what a node sends an owner for a
// dashboard session's forwarded write, and what the owner accepts.
#include "cluster/session_assertion.h"

#include <gtest/gtest.h>

namespace fp::cluster {
namespace {

constexpr std::string_view kSecret = "0123456789abcdef0123456789abcdef";
constexpr int64_t kNow = 1'800'000'000'000;

SessionAssertion Admin() {
  return {"k1", "ops team", ApiRole::kAdmin, kNow + kSessionAssertionTtlMs};
}

TEST(SessionAssertion, VerifiesWhatWasMadeForTheSameRequest) {
  const std::string t = MakeSessionAssertion(kSecret, Admin(), "PATCH", "/api/v1/devices/d1");
  auto a = VerifySessionAssertion(kSecret, t, "PATCH", "/api/v1/devices/d1", kNow);
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->key_id, "k1");
  EXPECT_EQ(a->key_name, "ops team");
  EXPECT_EQ(a->role, ApiRole::kAdmin);
}

TEST(SessionAssertion, IsBoundToMethodPathSecretAndTime) {
  const std::string t = MakeSessionAssertion(kSecret, Admin(), "PATCH", "/api/v1/devices/d1");
  EXPECT_FALSE(VerifySessionAssertion(kSecret, t, "DELETE", "/api/v1/devices/d1", kNow).ok());
  EXPECT_FALSE(VerifySessionAssertion(kSecret, t, "PATCH", "/api/v1/devices/d2", kNow).ok());
  EXPECT_FALSE(
      VerifySessionAssertion("another secret", t, "PATCH", "/api/v1/devices/d1", kNow).ok());
  EXPECT_FALSE(VerifySessionAssertion("", t, "PATCH", "/api/v1/devices/d1", kNow).ok());
  EXPECT_FALSE(VerifySessionAssertion(kSecret, t, "PATCH", "/api/v1/devices/d1",
                                      kNow + kSessionAssertionTtlMs)
                   .ok());  // expired
  SessionAssertion long_lived = Admin();
  long_lived.expires_ms = kNow + 10 * kSessionAssertionTtlMs;
  const std::string l = MakeSessionAssertion(kSecret, long_lived, "PATCH", "/p");
  EXPECT_FALSE(VerifySessionAssertion(kSecret, l, "PATCH", "/p", kNow).ok());
}

TEST(SessionAssertion, TamperedOrMalformedTokensAreRefused) {
  std::string t = MakeSessionAssertion(kSecret, Admin(), "POST", "/api/v1/devices");
  // The role raised from read to admin by hand: the mac no longer matches.
  SessionAssertion reader = Admin();
  reader.role = ApiRole::kRead;
  std::string r = MakeSessionAssertion(kSecret, reader, "POST", "/api/v1/devices");
  r.replace(r.find(".read."), 6, ".admin.");
  EXPECT_FALSE(VerifySessionAssertion(kSecret, r, "POST", "/api/v1/devices", kNow).ok());
  for (std::string bad :
       {std::string(""), std::string("fpfwd1."), std::string("fpfwd1...."),
        t.substr(0, t.size() - 1), "x" + t, t + ".0", std::string("fpfwd1.zz.61.admin.1.00")})
    EXPECT_FALSE(VerifySessionAssertion(kSecret, bad, "POST", "/api/v1/devices", kNow).ok()) << bad;
}

}  // namespace
}  // namespace fp::cluster
