#include "auth/api_key_authenticator.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>

#include "model/time_format.h"

namespace fp {

namespace {
constexpr std::string_view kSeededId = "admin-key";
}  // namespace

std::string_view bearer_token(std::string_view h) {
  for (std::string_view scheme : {"Bearer ", "bearer ", "Token ", "token "}) {
    if (h.substr(0, scheme.size()) == scheme) {
      h.remove_prefix(scheme.size());
      while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
      while (!h.empty() && h.back() == ' ') h.remove_suffix(1);
      return h;
    }
  }
  return {};
}

ApiKeyAuthenticator::ApiKeyAuthenticator(Catalog& catalog, const Clock& clock,
                                         std::string seeded_admin_key)
    : catalog_(catalog), clock_(clock) {
  if (!seeded_admin_key.empty())
    by_hash_[sha256_hex(seeded_admin_key)] = {std::string(kSeededId), "seeded admin key",
                                              ApiRole::kAdmin};
}

Status ApiKeyAuthenticator::load() {
  auto keys = catalog_.list_api_keys();
  if (!keys.ok()) return keys.status();
  std::lock_guard lock(mu_);
  for (const auto& k : *keys)
    if (!k.revoked) by_hash_[k.key_hash] = {k.id, k.name, k.role};
  return Status::Ok();
}

bool ApiKeyAuthenticator::has_keys() const {
  std::lock_guard lock(mu_);
  return !by_hash_.empty();
}

std::optional<Principal> ApiKeyAuthenticator::authenticate(std::string_view header) const {
  std::string_view token = bearer_token(header);
  if (token.empty() || token.size() > 512) return std::nullopt;
  const std::string hash = sha256_hex(token);
  std::lock_guard lock(mu_);
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return std::nullopt;
  return it->second;
}

Result<CreatedApiKey> ApiKeyAuthenticator::create(const std::string& name, ApiRole role) {
  CreatedApiKey k;
  k.secret = generate_secret();
  k.record.id = "key_" + sha256_hex(k.secret).substr(0, 16);
  k.record.name = name;
  k.record.role = role;
  k.record.key_hash = sha256_hex(k.secret);
  k.record.created_at_ms = clock_.now_ms();
  if (Status s = catalog_.put_api_key(k.record); !s.ok()) return s;
  std::lock_guard lock(mu_);
  by_hash_[k.record.key_hash] = {k.record.id, name, role};
  return k;
}

Status ApiKeyAuthenticator::revoke(const std::string& id) {
  if (id == kSeededId)
    return Status(StatusCode::kPermissionDenied,
                  "the seeded admin key is configured, not stored; remove --admin-key instead");
  if (Status s = catalog_.revoke_api_key(id); !s.ok()) return s;
  {
    std::lock_guard lock(mu_);
    for (auto it = by_hash_.begin(); it != by_hash_.end();)
      it = it->second.key_id == id ? by_hash_.erase(it) : std::next(it);
  }
  notify(id);
  return Status::Ok();
}

Result<ApiKeyRecord> ApiKeyAuthenticator::set_role(const std::string& id, ApiRole role) {
  if (id == kSeededId)
    return Status(StatusCode::kPermissionDenied,
                  "the seeded admin key is configured, not stored; its role cannot change");
  auto keys = catalog_.list_api_keys();
  if (!keys.ok()) return keys.status();
  auto it = std::find_if(keys->begin(), keys->end(),
                         [&](const ApiKeyRecord& k) { return k.id == id && !k.revoked; });
  if (it == keys->end()) return Status::NotFound("no API key '" + id + "'");
  ApiKeyRecord k = *it;
  k.role = role;
  if (Status s = catalog_.put_api_key(k); !s.ok()) return s;
  {
    std::lock_guard lock(mu_);
    auto p = by_hash_.find(k.key_hash);
    if (p != by_hash_.end()) p->second.role = role;
  }
  notify(id);
  return k;
}

std::optional<ApiRole> ApiKeyAuthenticator::role_of(const std::string& key_id) const {
  std::lock_guard lock(mu_);  // operator keys are few: a scan is cheap
  for (const auto& [hash, p] : by_hash_)
    if (p.key_id == key_id) return p.role;
  return std::nullopt;
}

void ApiKeyAuthenticator::add_change_listener(ChangeListener l) {
  std::lock_guard lock(mu_);
  listeners_.push_back(std::move(l));
}

void ApiKeyAuthenticator::notify(const std::string& key_id) const {
  std::vector<ChangeListener> listeners;
  {
    std::lock_guard lock(mu_);
    listeners = listeners_;
  }
  for (const auto& l : listeners) l(key_id);
}

Result<std::vector<ApiKeyRecord>> ApiKeyAuthenticator::list() const {
  return catalog_.list_api_keys();
}

std::string ApiKeyAuthenticator::sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

std::string ApiKeyAuthenticator::generate_secret(std::string_view prefix) {
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  unsigned char bytes[32];
  RAND_bytes(bytes, sizeof bytes);
  std::string s(prefix);
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      s.push_back(kB64[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) s.push_back(kB64[(acc << (6 - bits)) & 63]);
  return s;
}

bool role_allows(ApiRole role, ApiRole required) {
  auto rank = [](ApiRole r) { return r == ApiRole::kAdmin ? 2 : r == ApiRole::kWrite ? 1 : 0; };
  return rank(role) >= rank(required);
}

}  // namespace fp
