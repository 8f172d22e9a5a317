#pragma once
// CredentialIds: which credential a connection authenticated with (a device token, or an
// operator key), so that revoking it closes the connection. On the heap only when auth is on
// and one was used: two empty std::strings cost 64 bytes in every connection, this 8.
//
// Thread safety: none; used on its connection's strand.

#include <memory>
#include <string>

namespace fp::mqtt {

class CredentialIds {
 public:
  // Empty when none.
  const std::string& token_id() const { return ids_ ? ids_->token_id : empty(); }
  const std::string& key_id() const { return ids_ ? ids_->key_id : empty(); }
  void set_token_id(std::string id) { mutable_ids().token_id = std::move(id); }
  void set_key_id(std::string id) { mutable_ids().key_id = std::move(id); }

 private:
  struct Ids {
    std::string token_id;  // the device token it authenticated with
    std::string key_id;    // the operator key it authenticated with (a gateway or a consumer)
  };
  static const std::string& empty() {
    static const std::string kEmpty;
    return kEmpty;
  }
  Ids& mutable_ids() {
    if (!ids_) ids_ = std::make_unique<Ids>();
    return *ids_;
  }
  std::unique_ptr<Ids> ids_;
};

}  // namespace fp::mqtt
