#pragma once
// A session assertion: how a node vouches, to a partition's owner, for a dashboard session
// (cookie only) whose write it forwards (docs/cluster.md, "Credentials of forwarded writes").
// Sessions live in the memory of the node that made them, so the owner cannot check the
// cookie; the forwarding node checks it (and its CSRF token) and sends instead
//
//   Authorization: Bearer fpfwd1.<hex key id>.<hex key name>.<role>.<expires ms>.<hex mac>
//
// mac = HMAC-SHA256(cluster secret, "fpfwd1.<hex key id>.<hex key name>.<role>.<expires ms>"
// + "\n" + METHOD + " " + path): bound to one method and path, valid for
// kSessionAssertionTtlMs. The secret is the cluster's (StateSync::forward_secret, created once
// in the "fleetpulse_state" bucket). The owner checks the mac and the expiry, and that the
// session's API key still exists with that role (ForwardedPrincipal), then serves the request
// as that key: the session's rights, not the node's.
//
// Pure functions (no I/O): unit-tested, and the parser is fuzzed (fuzz_session_assertion).

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/catalog/catalog.h"
#include "util/result.h"

namespace fp::cluster {

inline constexpr int64_t kSessionAssertionTtlMs = 30'000;
inline constexpr std::string_view kSessionAssertionPrefix = "fpfwd1.";

struct SessionAssertion {
  std::string key_id;
  std::string key_name;
  ApiRole role = ApiRole::kRead;
  int64_t expires_ms = 0;
};

// The bearer token (without "Bearer ") asserting `a` for `method` `path`.
std::string MakeSessionAssertion(std::string_view secret, const SessionAssertion& a,
                                 std::string_view method, std::string_view path);

// The assertion in `token` when it is well-formed, its mac matches `secret`, `method` and
// `path`, and it is not expired at `now_ms` nor valid for longer than 2 x kSessionAssertionTtlMs
// (the sender's clock may run up to one TTL ahead); kUnauthenticated otherwise. An empty
// secret verifies nothing.
Result<SessionAssertion> VerifySessionAssertion(std::string_view secret, std::string_view token,
                                                std::string_view method, std::string_view path,
                                                int64_t now_ms);

}  // namespace fp::cluster
