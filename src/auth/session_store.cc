#include "auth/session_store.h"

#include <algorithm>

namespace fp {

bool secrets_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]);
  return diff == 0;
}

SessionStore::SessionStore(const ApiKeyAuthenticator& keys, const Clock& clock, Options options)
    : keys_(keys), clock_(clock), options_(options) {}

int64_t SessionStore::expiry_of(const WebSession& s) const {
  return std::min(s.last_used_ms + options_.idle_ms, s.created_ms + options_.lifetime_ms);
}

SessionStore::Created SessionStore::create(const Principal& who) {
  Created c;
  c.token = ApiKeyAuthenticator::generate_secret("fps_");
  WebSession& s = c.session;
  s.key_id = who.key_id;
  s.name = who.name;
  s.role = who.role;
  s.csrf_token = ApiKeyAuthenticator::generate_secret("");
  s.created_ms = s.last_used_ms = clock_.now_ms();
  s.expires_at_ms = expiry_of(s);
  const std::string hash = ApiKeyAuthenticator::sha256_hex(c.token);
  std::lock_guard lock(mu_);
  // Expired sessions first, then the oldest, make room.
  for (auto it = by_created_.begin(); it != by_created_.end();) {
    auto s_it = by_hash_.find(it->second);
    if (s_it == by_hash_.end() || expiry_of(s_it->second) <= s.created_ms) {
      if (s_it != by_hash_.end()) by_hash_.erase(s_it);
      it = by_created_.erase(it);
    } else if (by_hash_.size() >= options_.max_sessions) {
      by_hash_.erase(s_it);
      it = by_created_.erase(it);
    } else {
      break;  // ordered by creation: the rest are younger (an idle one is found on use)
    }
  }
  by_hash_[hash] = s;
  by_created_.emplace(s.created_ms, hash);
  return c;
}

std::optional<WebSession> SessionStore::use(std::string_view token) {
  if (token.empty() || token.size() > 128) return std::nullopt;
  const std::string hash = ApiKeyAuthenticator::sha256_hex(token);
  const int64_t now = clock_.now_ms();
  std::optional<WebSession> found;
  {
    std::lock_guard lock(mu_);
    auto it = by_hash_.find(hash);
    if (it == by_hash_.end()) return std::nullopt;
    if (expiry_of(it->second) <= now) {
      by_hash_.erase(it);  // its by_created_ entry goes at the next create
      return std::nullopt;
    }
    found = it->second;
  }
  // The key must still exist with the role the session was opened with.
  if (keys_.role_of(found->key_id) != found->role) {
    end(token);
    return std::nullopt;
  }
  std::lock_guard lock(mu_);
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return std::nullopt;  // ended meanwhile
  it->second.last_used_ms = now;
  it->second.expires_at_ms = expiry_of(it->second);
  return it->second;
}

void SessionStore::end(std::string_view token) {
  const std::string hash = ApiKeyAuthenticator::sha256_hex(token);
  std::lock_guard lock(mu_);
  by_hash_.erase(hash);
}

void SessionStore::end_for_key(const std::string& key_id) {
  std::lock_guard lock(mu_);
  std::erase_if(by_hash_, [&](const auto& kv) { return kv.second.key_id == key_id; });
}

size_t SessionStore::size() const {
  std::lock_guard lock(mu_);
  return by_hash_.size();
}

}  // namespace fp
