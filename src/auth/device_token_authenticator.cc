#include "auth/device_token_authenticator.h"

#include "auth/api_key_authenticator.h"

namespace fp {

Status DeviceTokenAuthenticator::load() {
  auto tokens = catalog_.list_device_tokens("");
  if (!tokens.ok()) return tokens.status();
  std::lock_guard lock(mu_);
  for (const auto& t : *tokens)
    if (!t.revoked) {
      by_hash_[t.token_hash] = {t.id, t.device_id};
      active_ids_.insert(t.id);
    }
  return Status::Ok();
}

std::optional<std::string> DeviceTokenAuthenticator::device_for(std::string_view secret) const {
  if (secret.empty() || secret.size() > 512) return std::nullopt;
  const std::string hash = ApiKeyAuthenticator::sha256_hex(secret);
  std::lock_guard lock(mu_);
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return std::nullopt;
  return it->second.device_id;
}

bool DeviceTokenAuthenticator::verify(std::string_view device_id, std::string_view secret) const {
  return token_id_for(device_id, secret).has_value();
}

std::optional<std::string> DeviceTokenAuthenticator::token_id_for(std::string_view device_id,
                                                                  std::string_view secret) const {
  if (secret.empty() || secret.size() > 512) return std::nullopt;
  const std::string hash = ApiKeyAuthenticator::sha256_hex(secret);
  std::lock_guard lock(mu_);
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end() || it->second.device_id != device_id) return std::nullopt;
  return it->second.token_id;
}

bool DeviceTokenAuthenticator::is_active(const std::string& token_id) const {
  std::lock_guard lock(mu_);
  return active_ids_.count(token_id) > 0;
}

Result<CreatedDeviceToken> DeviceTokenAuthenticator::create(const std::string& device_id,
                                                            const std::string& name) {
  CreatedDeviceToken t;
  t.secret = ApiKeyAuthenticator::generate_secret("fpd_");
  t.record.token_hash = ApiKeyAuthenticator::sha256_hex(t.secret);
  t.record.id = "tok_" + t.record.token_hash.substr(0, 16);
  t.record.device_id = device_id;
  t.record.name = name;
  t.record.created_at_ms = clock_.now_ms();
  if (Status s = catalog_.put_device_token(t.record); !s.ok()) return s;
  std::lock_guard lock(mu_);
  by_hash_[t.record.token_hash] = {t.record.id, device_id};
  active_ids_.insert(t.record.id);
  return t;
}

Status DeviceTokenAuthenticator::revoke(const std::string& device_id, const std::string& token_id) {
  if (Status s = catalog_.revoke_device_token(device_id, token_id); !s.ok()) return s;
  std::vector<RevokeListener> listeners;
  {
    std::lock_guard lock(mu_);
    for (auto it = by_hash_.begin(); it != by_hash_.end();)
      it = it->second.token_id == token_id ? by_hash_.erase(it) : std::next(it);
    active_ids_.erase(token_id);
    listeners = listeners_;
  }
  for (const auto& l : listeners) l(device_id, token_id);
  return Status::Ok();
}

void DeviceTokenAuthenticator::add_revoke_listener(RevokeListener l) {
  std::lock_guard lock(mu_);
  listeners_.push_back(std::move(l));
}

Status DeviceTokenAuthenticator::revoke_all(const std::string& device_id) {
  auto tokens = catalog_.list_device_tokens(device_id);
  if (!tokens.ok()) return tokens.status();
  for (const auto& t : *tokens)
    if (!t.revoked)
      if (Status s = revoke(device_id, t.id); !s.ok()) return s;
  return Status::Ok();
}

Result<std::vector<DeviceTokenRecord>> DeviceTokenAuthenticator::list(
    const std::string& device_id) const {
  return catalog_.list_device_tokens(device_id);
}

}  // namespace fp
