#pragma once
// SessionStore: dashboard sessions. `POST /api/v1/session` exchanges an API key for a random
// session token (sent back as an HttpOnly, SameSite=Strict cookie) and a CSRF token (returned
// in the body, required in `X-CSRF-Token` on the cookie's state-changing requests). A session
// carries the key's id and role; it ends when unused for `idle`, `lifetime` after it began,
// on logout, and as soon as its key is revoked or given another role (checked on every use
// and by end_for_key from the authenticator's change listener).
//
// Sessions live in memory only (tokens kept as SHA-256): a restart ends them all and the
// dashboard asks for the key again. At most `max_sessions` exist; the oldest goes first.
//
// Thread safety: all methods may be called from any thread.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "auth/api_key_authenticator.h"
#include "util/clock.h"

namespace fp {

struct WebSession {
  std::string key_id;
  std::string name;  // the key's name
  ApiRole role = ApiRole::kRead;
  std::string csrf_token;
  int64_t created_ms = 0;
  int64_t last_used_ms = 0;
  int64_t expires_at_ms = 0;  // when it ends if unused (min of idle and lifetime)
};

class SessionStore {
 public:
  struct Options {
    int64_t idle_ms = 3'600'000;
    int64_t lifetime_ms = 12 * 3'600'000;
    size_t max_sessions = 10'000;
  };
  // `keys` and `clock` must outlive the store.
  SessionStore(const ApiKeyAuthenticator& keys, const Clock& clock, Options options);

  struct Created {
    std::string token;  // the cookie value, shown once
    WebSession session;
  };
  Created create(const Principal& who);

  // The live session for cookie value `token`, its idle timer restarted; nullopt when unknown,
  // expired, or its key was revoked or changed role (the session is then ended).
  std::optional<WebSession> use(std::string_view token);
  // Ends the session of `token` (no-op when there is none).
  void end(std::string_view token);
  // Ends every session opened with key `key_id`.
  void end_for_key(const std::string& key_id);
  size_t size() const;

  int64_t lifetime_ms() const { return options_.lifetime_ms; }

 private:
  int64_t expiry_of(const WebSession& s) const;

  const ApiKeyAuthenticator& keys_;
  const Clock& clock_;
  const Options options_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, WebSession> by_hash_;  // guarded by mu_
  std::multimap<int64_t, std::string> by_created_;       // created_ms -> hash; guarded by mu_
};

// Constant-time comparison of two secrets (false when their lengths differ).
bool secrets_equal(std::string_view a, std::string_view b);

}  // namespace fp
