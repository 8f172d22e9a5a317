#pragma once
// DeviceTokenAuthenticator: per-device tokens, the credential a device uses as its MQTT password
// (user name = device id) or as `Authorization: Bearer` on the HTTP ingest endpoints. A token
// only ever grants writing that one device's own data. Secrets ("fpd_" + 43 base64url
// characters) are shown once at creation; only their SHA-256 is stored (catalog table
// device_tokens) and kept in memory for lookups.
//
// Thread safety: all methods may be called from any thread.

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "storage/catalog/catalog.h"
#include "util/clock.h"

namespace fp {

struct CreatedDeviceToken {
  DeviceTokenRecord record;
  std::string secret;  // shown to the caller once
};

class DeviceTokenAuthenticator {
 public:
  // `catalog` and `clock` must outlive the authenticator.
  DeviceTokenAuthenticator(Catalog& catalog, const Clock& clock)
      : catalog_(catalog), clock_(clock) {}

  // Loads the stored, unrevoked tokens. Call once at start-up.
  Status load();

  // The device a secret belongs to, or nullopt when unknown or revoked.
  std::optional<std::string> device_for(std::string_view secret) const;
  // Whether `secret` is a valid token of `device_id` (the MQTT user name / password check).
  bool verify(std::string_view device_id, std::string_view secret) const;
  // The id of the token `secret` when it is a valid token of `device_id`, else nullopt.
  std::optional<std::string> token_id_for(std::string_view device_id,
                                          std::string_view secret) const;
  // Whether the token `token_id` exists and is not revoked.
  bool is_active(const std::string& token_id) const;

  Result<CreatedDeviceToken> create(const std::string& device_id, const std::string& name);
  // kNotFound unless `token_id` is a token of `device_id`.
  Status revoke(const std::string& device_id, const std::string& token_id);
  Result<std::vector<DeviceTokenRecord>> list(const std::string& device_id) const;
  // Revokes every token of `device_id` (when the device is removed).
  Status revoke_all(const std::string& device_id);

  // Called with (device id, token id) after a token was revoked, so sessions authenticated
  // with it can be closed. Called on the revoking thread with no lock of this class held.
  using RevokeListener = std::function<void(const std::string& device_id, const std::string&)>;
  void add_revoke_listener(RevokeListener l);

 private:
  struct Entry {
    std::string token_id;
    std::string device_id;
  };
  Catalog& catalog_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> by_hash_;  // guarded by mu_
  std::unordered_set<std::string> active_ids_;      // token ids of by_hash_; guarded by mu_
  std::vector<RevokeListener> listeners_;           // guarded by mu_
};

}  // namespace fp
