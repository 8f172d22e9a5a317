#pragma once
// ForwardAuth: the credential a node sends with a read it forwards to an owner or gathers
// from the owners. A request with `Authorization` keeps it (keys are cluster-wide through
// state_sync.h). A dashboard request carries only the session cookie, and sessions live in
// the memory of the node that created them, so an owner would refuse it: when this node's
// SessionStore accepts the cookie, the forwarded request carries instead this node's own
// internal read-only API key, "cluster-internal-<node id>", created at start (the previous
// one of this node id is revoked) and known to every node through the state bucket. Its
// secret never leaves this process; forwarded reads are reads, so read role is enough.
//
// Thread safety: AuthorizationFor() from any thread.

#include <functional>
#include <string>

#include "http/http_types.h"

namespace fp {
class ApiKeyAuthenticator;
class SessionStore;
}  // namespace fp

namespace fp::cluster {

class ForwardAuth {
 public:
  // Either may be null (then requests are forwarded with their own headers only).
  ForwardAuth(ApiKeyAuthenticator* keys, SessionStore* sessions, const std::string& node_id);

  struct Headers {
    std::string authorization;
    std::string cookie;
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
};

}  // namespace fp::cluster
