// normalized_authorization(): every credential form the InfluxDB clients use becomes the
// Bearer form the key check reads.
#include <gtest/gtest.h>

#include "http/api_dispatcher.h"

namespace fp::http {
namespace {

Request with(std::string authorization, std::map<std::string, std::string, std::less<>> q = {}) {
  Request r;
  r.authorization = std::move(authorization);
  r.query = std::move(q);
  return r;
}

TEST(Credentials, BearerAndTokenCarryTheKey) {
  EXPECT_EQ(normalized_authorization(with("Bearer k1"), false), "Bearer k1");
  EXPECT_EQ(normalized_authorization(with("Token k2"), false), "Bearer k2");
  EXPECT_EQ(normalized_authorization(with("token k2"), false), "Bearer k2");
}

TEST(Credentials, BasicTakesThePasswordAsTheKey) {
  // base64("telegraf:s3cret:with:colons")
  EXPECT_EQ(normalized_authorization(with("Basic dGVsZWdyYWY6czNjcmV0OndpdGg6Y29sb25z"), false),
            "Bearer s3cret:with:colons");
  EXPECT_EQ(normalized_authorization(with("Basic bm9jb2xvbg=="), false), "Bearer ");
  EXPECT_EQ(normalized_authorization(with("Basic !!!"), false), "Bearer ");
}

TEST(Credentials, QueryParametersOnlyWhereAllowed) {
  EXPECT_EQ(normalized_authorization(with("", {{"api_key", "k3"}}), false), "Bearer k3");
  EXPECT_EQ(normalized_authorization(with("", {{"u", "me"}, {"p", "k4"}}), true), "Bearer k4");
  EXPECT_EQ(normalized_authorization(with("", {{"u", "me"}, {"p", "k4"}}), false), "");
  EXPECT_EQ(normalized_authorization(with("Token k5", {{"p", "k4"}}), true), "Bearer k5");
}

}  // namespace
}  // namespace fp::http
