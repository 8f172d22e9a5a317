#include "cluster/forward_auth.h"

#include <spdlog/spdlog.h>

#include "auth/api_key_authenticator.h"
#include "auth/session_store.h"
#include "http/api_dispatcher.h"

namespace fp::cluster {

ForwardAuth::ForwardAuth(ApiKeyAuthenticator* keys, SessionStore* sessions,
                         const std::string& node_id)
    : sessions_(sessions) {
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
  if (cookie.empty() || !sessions_->use(cookie)) return {req.authorization, req.cookie};
  return {internal_authorization_, ""};
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
