#pragma once
// A minimal blocking HTTP/1.1 client for webhook deliveries: POST a JSON body to an http:// or
// https:// URL and report the status or the failure. Boost.Beast stays inside
// webhook_client.cc.
//
// Server-side request forgery guard: a webhook may not reach loopback, link-local (169.254/16,
// fe80::/10, cloud metadata included), private (10/8, 172.16/12, 192.168/16, 100.64/10,
// fc00::/7), unspecified, multicast or reserved addresses unless the address is inside a CIDR
// of the allow-list (`--webhook-allow`). The host is resolved at delivery time, every address
// it resolves to is checked, and the connection goes to the addresses that passed only (a
// name that changes its answer between the check and the connect cannot slip through); a
// name with no address that passes is refused.

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace fp {

struct PostResult {
  int status = 0;     // HTTP status, 0 when no answer was received
  std::string error;  // connection / timeout / protocol / refused-address problem, empty otherwise
  bool ok() const { return error.empty() && status >= 200 && status < 300; }
  std::string describe() const;  // "HTTP 500" or the error
};

// An IPv4 or IPv6 network. IPv4 is kept as an IPv4-mapped IPv6 address (::ffff:a.b.c.d) with
// the prefix length shifted by 96, so one comparison serves both families.
struct IpNetwork {
  std::array<uint8_t, 16> bytes{};
  int prefix = 0;  // 0..128, over the (mapped) 128-bit form
  bool contains(const std::array<uint8_t, 16>& address) const;
};

// "10.0.0.0/8", "::1/128", "127.0.0.1" (a single address): comma-separated, spaces allowed.
// InvalidArgument naming the bad entry.
Result<std::vector<IpNetwork>> parse_cidr_list(std::string_view text);

// Where webhooks may go. Set once at start-up (before deliveries begin); the default refuses
// every internal address and verifies https peers against the system store only.
struct WebhookPolicy {
  std::vector<IpNetwork> allow;  // addresses inside these are allowed whatever their kind
  std::string ca_file;           // extra PEM CA certificates for https webhooks; empty: none
};
void set_webhook_policy(WebhookPolicy policy);

// Why `address` (an IP literal) may not receive webhooks under the current policy, e.g.
// "127.0.0.1 is a loopback address"; empty when it may (or when it is not an IP literal).
std::string webhook_address_refusal(std::string_view address);

// The problem with `url` as a webhook target known without a name lookup: its syntax
// (http:// or https://, a host, no user info, no spaces, <= 2048 bytes) and, when the host is
// an IP literal, the policy. Empty when fine. Names are checked at each delivery.
std::string webhook_url_problem(std::string_view url);

// Sends `body` with Content-Type application/json. The whole exchange (resolve, connect,
// TLS handshake, write, read) is bounded by `timeout`. https verifies the peer's certificate
// chain (system store plus the policy's CA file) and its name. Thread-safe; blocks.
PostResult post_json(std::string_view url, std::string_view body,
                     std::chrono::milliseconds timeout);

}  // namespace fp
