#pragma once
// ForwardAuth: the credential a node sends with a read it forwards to an owner or gathers
// from the owners. A request with `Authorization` keeps it (keys are cluster-wide through
// state_sync.h). A dashboard request carries only the session cookie, and sessions live in
// the memory of the node that created them, so an owner would refuse it: when this node's
// SessionStore accepts the cookie, the forwarded request carries instead this node's own
// internal read-only API key, "cluster-internal-<node id>", created at start (the previous
// one of this node id is revoked) and known to every node through the state bucket. Its
// secret never leaves this process; forwarded reads are reads, so read role is enough.
// A state-changing request (a device or alert write forwarded to its owner) with only the
// session cookie is checked here as the dispatcher would (live session, same origin, CSRF
// token) and sent with a session assertion instead (session_assertion.h: the session's key
// and role, signed with the cluster secret, bound to the method and path, 30 s), which the
// owner accepts as that key (ForwardedPrincipal): the session's rights, not the node's. One
// that fails the checks is not forwarded (serve_here): this node's dispatcher refuses it with
// the single node's 401 / 403.
//
// Thread safety: AuthorizationFor() from any thread.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "auth/api_key_authenticator.h"
#include "http/http_types.h"

namespace fp {
class SessionStore;
}  // namespace fp

namespace fp::cluster {

class ForwardAuth {
 public:
  // Either may be null (then requests are forwarded with their own headers only).
  // `assertion_secret`: the cluster's (StateSync::forward_secret); empty = writes from a
  // session are forwarded with the cookie (and refused by the owner).
  ForwardAuth(ApiKeyAuthenticator* keys, SessionStore* sessions, const std::string& node_id,
              std::string assertion_secret = {});

  struct Headers {
    std::string authorization;
    std::string cookie;
    bool serve_here = false;  // a session write this node refuses: do not forward it
  };
  Headers For(const http::Request& req) const;
  // For a request that For() sends with this node's internal key (a session cookie): a check
  // that the client's session is still live — not logged out, expired, or its key revoked or
  // given another role (SessionStore::use, which also restarts its idle timer). Empty for any
  // other request. A relayed live stream calls it every second and ends when it fails.
  std::function<bool()> SessionCheck(const http::Request& req) const;

 private:
  SessionStore* sessions_;
  std::string internal_authorization_;  // "Bearer <secret>", empty when none
  std::string assertion_secret_;
};

// On the owner: the key a forwarded session write acts as, when `authorization` is "Bearer "
// + a session assertion valid for `req`'s method and path under `secret` whose key still has
// the asserted role (a key revoked or given another role since: nullopt, so 401); nullopt for
// anything else (the key authenticator then has its say). Any thread.
std::optional<Principal> ForwardedPrincipal(std::string_view secret,
                                            const ApiKeyAuthenticator& keys,
                                            std::string_view authorization,
                                            const http::Request& req);

}  // namespace fp::cluster
