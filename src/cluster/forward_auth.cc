#include "cluster/forward_auth.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "auth/api_key_authenticator.h"
#include "auth/session_store.h"
#include "cluster/session_assertion.h"
#include "http/api_dispatcher.h"

namespace fp::cluster {
namespace {

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

ForwardAuth::ForwardAuth(ApiKeyAuthenticator* keys, SessionStore* sessions,
                         const std::string& node_id, std::string assertion_secret)
    : sessions_(sessions), assertion_secret_(std::move(assertion_secret)) {
  if (keys == nullptr || sessions == nullptr) return;
  const std::string name = "cluster-internal-" + node_id;
  if (auto existing = keys->list(); existing.ok())
    for (const ApiKeyRecord& k : *existing)
      if (k.name == name && !k.revoked) (void)keys->revoke(k.id);
  auto created = keys->create(name, ApiRole::kRead);
  if (!created.ok()) {
    spdlog::warn("event=cluster_internal_key_failed reason=\"{}\"", created.status().message());
    return;
  }
  internal_authorization_ = "Bearer " + created->secret;
}

ForwardAuth::Headers ForwardAuth::For(const http::Request& req) const {
  if (!req.authorization.empty() || sessions_ == nullptr || internal_authorization_.empty())
    return {req.authorization, req.cookie};
  const std::string_view cookie = http::cookie_value(req.cookie, http::kSessionCookie);
  if (cookie.empty()) return {req.authorization, req.cookie};
  const auto session = sessions_->use(cookie);
  const bool write = req.method != http::Method::kGet && req.method != http::Method::kHead &&
                     req.method != http::Method::kOptions;
  if (write && !assertion_secret_.empty()) {
    // The dispatcher's checks of a cookie's write, here: the owner only sees the assertion.
    if (!session || !http::same_origin(req) || !secrets_equal(req.csrf_token, session->csrf_token))
      return {req.authorization, req.cookie, true};
    const SessionAssertion a{session->key_id, session->name, session->role,
                             WallMs() + kSessionAssertionTtlMs};
    return {"Bearer " +
                MakeSessionAssertion(assertion_secret_, a, http::to_string(req.method), req.path),
            ""};
  }
  if (!session) return {req.authorization, req.cookie};
  return {internal_authorization_, ""};
}

std::optional<Principal> ForwardedPrincipal(std::string_view secret,
                                            const ApiKeyAuthenticator& keys,
                                            std::string_view authorization,
                                            const http::Request& req) {
  constexpr std::string_view kBearer = "Bearer ";
  if (!authorization.starts_with(kBearer)) return std::nullopt;
  const std::string_view token = authorization.substr(kBearer.size());
  if (!token.starts_with(kSessionAssertionPrefix)) return std::nullopt;
  auto a = VerifySessionAssertion(secret, token, http::to_string(req.method), req.path, WallMs());
  if (!a.ok()) {
    spdlog::warn("event=cluster_forwarded_session_refused reason=\"{}\"", a.status().message());
    return std::nullopt;
  }
  if (keys.role_of(a->key_id) != a->role) return std::nullopt;  // revoked or changed meanwhile
  return Principal{a->key_id, a->key_name, a->role};
}

std::function<bool()> ForwardAuth::SessionCheck(const http::Request& req) const {
  if (!req.authorization.empty() || sessions_ == nullptr || internal_authorization_.empty())
    return {};
  const std::string_view cookie = http::cookie_value(req.cookie, http::kSessionCookie);
  if (cookie.empty()) return {};
  return [sessions = sessions_, token = std::string(cookie)] {
    return sessions->use(token).has_value();
  };
}

}  // namespace fp::cluster
