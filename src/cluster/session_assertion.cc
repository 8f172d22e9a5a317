#include "cluster/session_assertion.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>
#include <vector>

#include "auth/session_store.h"
#include "cluster/kv_key.h"

namespace fp::cluster {
namespace {

std::string Mac(std::string_view secret, std::string_view signed_part, std::string_view method,
                std::string_view path) {
  std::string msg(signed_part);
  msg += '\n';
  msg += method;
  msg += ' ';
  msg += path;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), out, &len);
  return KvHex(std::string_view(reinterpret_cast<const char*>(out), len));
}

bool Unhex(std::string_view hex, std::string& out) {
  if (hex.size() % 2 != 0) return false;
  out.clear();
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
  }
  return true;
}

Status Refused(std::string_view why) {
  return Status(StatusCode::kUnauthenticated, "forwarded session: " + std::string(why));
}

}  // namespace

std::string MakeSessionAssertion(std::string_view secret, const SessionAssertion& a,
                                 std::string_view method, std::string_view path) {
  std::string signed_part(kSessionAssertionPrefix);
  signed_part += KvHex(a.key_id) + "." + KvHex(a.key_name) + "." + std::string(to_string(a.role)) +
                 "." + std::to_string(a.expires_ms);
  return signed_part + "." + Mac(secret, signed_part, method, path);
}

Result<SessionAssertion> VerifySessionAssertion(std::string_view secret, std::string_view token,
                                                std::string_view method, std::string_view path,
                                                int64_t now_ms) {
  if (secret.empty()) return Refused("no cluster secret");
  if (!token.starts_with(kSessionAssertionPrefix)) return Refused("not an assertion");
  const size_t mac_dot = token.rfind('.');
  if (mac_dot < kSessionAssertionPrefix.size()) return Refused("malformed");  // no mac part
  const std::string_view signed_part = token.substr(0, mac_dot);
  std::vector<std::string_view> parts;
  for (std::string_view rest = signed_part.substr(kSessionAssertionPrefix.size());;) {
    const size_t dot = rest.find('.');
    parts.push_back(rest.substr(0, dot));
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  if (parts.size() != 4) return Refused("malformed");
  SessionAssertion a;
  if (!Unhex(parts[0], a.key_id) || a.key_id.empty() || !Unhex(parts[1], a.key_name))
    return Refused("malformed key");
  auto role = parse_api_role(parts[2]);
  if (!role) return Refused("unknown role");
  a.role = *role;
  auto [p, ec] = std::from_chars(parts[3].data(), parts[3].data() + parts[3].size(), a.expires_ms);
  if (ec != std::errc() || p != parts[3].data() + parts[3].size())
    return Refused("malformed expiry");
  if (!secrets_equal(token.substr(mac_dot + 1), Mac(secret, signed_part, method, path)))
    return Refused("bad signature");
  if (a.expires_ms <= now_ms || a.expires_ms > now_ms + 2 * kSessionAssertionTtlMs)
    return Refused("expired");
  return a;
}

}  // namespace fp::cluster
