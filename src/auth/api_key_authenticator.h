#pragma once
// ApiKeyAuthenticator: operator API keys with roles. Secrets are random 32-byte tokens shown
// once at creation; only their SHA-256 is stored (in the catalog) and kept in memory for
// lookups. A key given with --admin-key is held in memory only and never written to disk.
//
// Thread safety: all methods may be called from any thread.

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "storage/catalog/catalog.h"
#include "util/clock.h"

namespace fp {

class AuthThrottle;

struct Principal {
  std::string key_id;
  std::string name;
  ApiRole role = ApiRole::kRead;
};

struct CreatedApiKey {
  ApiKeyRecord record;
  std::string secret;  // shown to the caller once
};

class ApiKeyAuthenticator {
 public:
  // `catalog` and `clock` must outlive the authenticator.
  ApiKeyAuthenticator(Catalog& catalog, const Clock& clock, std::string seeded_admin_key);

  // Loads the stored keys. Call once at start-up.
  Status load();
  // True when any key exists (seeded or stored).
  bool has_keys() const;

  // The principal for an `Authorization: Bearer <key>` header (also accepts `Token <key>`
  // as InfluxDB clients send it), or nullopt when absent, malformed, unknown or revoked.
  std::optional<Principal> authenticate(std::string_view authorization_header) const;

  Result<CreatedApiKey> create(const std::string& name, ApiRole role);
  Status revoke(const std::string& id);
  // Gives key `id` a new role (stored first); kNotFound for an unknown or revoked key,
  // kPermissionDenied for the seeded admin key. Returns the updated record.
  Result<ApiKeyRecord> set_role(const std::string& id, ApiRole role);
  Result<std::vector<ApiKeyRecord>> list() const;
  // The current role of key `key_id`, or nullopt once it is revoked (or never existed).
  std::optional<ApiRole> role_of(const std::string& key_id) const;

  // Called with the key id after a key was revoked or its role changed, so whatever was
  // opened with it (SSE streams, MQTT sessions) can be closed. Called on the thread that made
  // the change, with no lock of this class held. Listeners are never removed.
  using ChangeListener = std::function<void(const std::string& key_id)>;
  void add_change_listener(ChangeListener l);

  // The failed-authentication throttle shared by HTTP and MQTT (auth_throttle.h), set once at
  // start-up before any request; null: none.
  void set_throttle(AuthThrottle* throttle) { throttle_ = throttle; }
  AuthThrottle* throttle() const { return throttle_; }

  static std::string sha256_hex(std::string_view data);
  // A new random secret: `prefix` followed by 43 base64url characters (256 bits).
  static std::string generate_secret(std::string_view prefix = "fpk_");

 private:
  Catalog& catalog_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Principal> by_hash_;  // guarded by mu_
  std::vector<ChangeListener> listeners_;               // guarded by mu_
  AuthThrottle* throttle_ = nullptr;
  void notify(const std::string& key_id) const;
};

// The token of an `Authorization: Bearer <token>` (or `Token <token>`) header; empty if none.
std::string_view bearer_token(std::string_view authorization_header);

// Whether `role` may do what `required` asks for (admin > write > read).
bool role_allows(ApiRole role, ApiRole required);

}  // namespace fp
