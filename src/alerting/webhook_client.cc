#include "alerting/webhook_client.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <mutex>
#include <optional>

namespace fp {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using Bytes = std::array<uint8_t, 16>;

namespace {

std::mutex policy_mu;
WebhookPolicy& policy_locked() {
  static WebhookPolicy p;
  return p;
}
WebhookPolicy current_policy() {
  std::lock_guard lock(policy_mu);
  return policy_locked();
}

Bytes to_bytes(const net::ip::address& a) {
  if (a.is_v4()) return net::ip::make_address_v6(net::ip::v4_mapped, a.to_v4()).to_bytes();
  return a.to_v6().to_bytes();
}

IpNetwork net_of(std::string_view cidr) {  // for the built-in tables: always valid
  return parse_cidr_list(cidr).value().front();
}

struct Blocked {
  IpNetwork net;
  const char* kind;
};

// Most specific first: the first match names the kind.
const std::vector<Blocked>& blocked_networks() {
  static const std::vector<Blocked> list = {
      {net_of("169.254.169.254/32"), "cloud metadata"},
      {net_of("100.100.100.200/32"), "cloud metadata"},
      {net_of("fd00:ec2::254/128"), "cloud metadata"},
      {net_of("192.0.0.0/24"), "reserved (IETF protocol assignments, metadata)"},
      {net_of("0.0.0.0/8"), "unspecified"},
      {net_of("::/128"), "unspecified"},
      {net_of("127.0.0.0/8"), "loopback"},
      {net_of("::1/128"), "loopback"},
      {net_of("169.254.0.0/16"), "link-local"},
      {net_of("fe80::/10"), "link-local"},
      {net_of("10.0.0.0/8"), "private"},
      {net_of("172.16.0.0/12"), "private"},
      {net_of("192.168.0.0/16"), "private"},
      {net_of("100.64.0.0/10"), "private (shared address space)"},
      {net_of("fc00::/7"), "private (unique local)"},
      {net_of("224.0.0.0/4"), "multicast"},
      {net_of("ff00::/8"), "multicast"},
      {net_of("240.0.0.0/4"), "reserved"},
  };
  return list;
}

// The kind of blocked address `b` is, or nullptr. NAT64 (64:ff9b::/96) is judged by the IPv4
// address it carries.
const char* blocked_kind(Bytes b) {
  static const IpNetwork nat64 = net_of("64:ff9b::/96");
  if (nat64.contains(b)) {
    Bytes mapped{};
    mapped[10] = mapped[11] = 0xff;
    for (int i = 12; i < 16; ++i) mapped[i] = b[i];
    b = mapped;
  }
  for (const auto& entry : blocked_networks())
    if (entry.net.contains(b)) return entry.kind;
  return nullptr;
}

std::string refusal(const net::ip::address& a, const WebhookPolicy& p) {
  const Bytes b = to_bytes(a);
  for (const auto& n : p.allow)
    if (n.contains(b)) return {};
  const char* kind = blocked_kind(b);
  if (!kind) return {};
  std::string text = a.to_string();
  return text + " is a " + kind +
         " address (webhooks to it are refused; allow it with --webhook-allow)";
}

struct ParsedUrl {
  bool https = false;
  std::string host;  // without brackets
  std::string port;
  std::string authority;
  std::string target;
};

// http(s)://host[:port][/path]; nullopt with `why` on a bad URL.
std::optional<ParsedUrl> parse_url(std::string_view url, std::string& why) {
  ParsedUrl u;
  std::string_view rest;
  if (url.substr(0, 7) == "http://") {
    rest = url.substr(7);
  } else if (url.substr(0, 8) == "https://") {
    u.https = true;
    rest = url.substr(8);
  } else {
    why = "must be an http:// or https:// URL";
    return std::nullopt;
  }
  if (url.size() > 2048) {
    why = "must be at most 2048 characters";
    return std::nullopt;
  }
  for (char c : url)
    if (static_cast<unsigned char>(c) <= 0x20) {
      why = "must not contain spaces or control bytes";
      return std::nullopt;
    }
  const size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  u.target = end == std::string_view::npos ? "/" : std::string(rest.substr(end));
  if (u.target.front() != '/') u.target.insert(u.target.begin(), '/');
  if (authority.find('@') != std::string_view::npos) {
    why = "must not contain user info (user@host)";
    return std::nullopt;
  }
  u.authority = std::string(authority);
  u.port = u.https ? "443" : "80";
  std::string_view host = authority;
  if (!authority.empty() && authority.front() == '[') {  // [v6]:port
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      why = "has an unclosed [ in the host";
      return std::nullopt;
    }
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') {
        why = "has a bad port";
        return std::nullopt;
      }
      u.port = std::string(authority.substr(close + 2));
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    u.port = std::string(authority.substr(colon + 1));
  }
  if (host.empty()) {
    why = "must name a host";
    return std::nullopt;
  }
  if (u.port.empty() || u.port.size() > 5 ||
      u.port.find_first_not_of("0123456789") != std::string::npos || std::stoi(u.port) == 0 ||
      std::stoi(u.port) > 65535) {
    why = "has a bad port";
    return std::nullopt;
  }
  u.host = std::string(host);
  return u;
}

// Sends `req` over a connected `stream` and reads the status. Runs on `ioc`'s thread.
template <class Stream>
void exchange(Stream& stream, bhttp::request<bhttp::string_body>& req, beast::flat_buffer& buffer,
              bhttp::response_parser<bhttp::string_body>& res, PostResult& result) {
  bhttp::async_write(stream, req, [&](beast::error_code ec, size_t) {
    if (ec) {
      result.error = "write: " + ec.message();
      return;
    }
    bhttp::async_read(stream, buffer, res, [&](beast::error_code ec, size_t) {
      if (ec && !res.is_header_done()) {
        result.error = "read: " + ec.message();
        return;
      }
      result.status = static_cast<int>(res.get().result_int());
      beast::error_code ignored;
      beast::get_lowest_layer(stream).socket().shutdown(net::ip::tcp::socket::shutdown_both,
                                                        ignored);
    });
  });
}

}  // namespace

bool IpNetwork::contains(const Bytes& address) const {
  int bits = prefix;
  for (size_t i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    const uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((address[i] & mask) != (bytes[i] & mask)) return false;
  }
  return true;
}

Result<std::vector<IpNetwork>> parse_cidr_list(std::string_view text) {
  std::vector<IpNetwork> out;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) continue;
    const size_t slash = item.find('/');
    beast::error_code ec;
    const auto addr = net::ip::make_address(std::string(item.substr(0, slash)), ec);
    if (ec)
      return Status::InvalidArgument("'" + std::string(item) +
                                     "' is not an IP network (e.g. 10.0.0.0/8 or fd00::/8)");
    const int max = addr.is_v4() ? 32 : 128;
    int len = max;
    if (slash != std::string_view::npos) {
      const std::string_view digits = item.substr(slash + 1);
      if (digits.empty() || digits.size() > 3 ||
          digits.find_first_not_of("0123456789") != std::string_view::npos ||
          std::stoi(std::string(digits)) > max)
        return Status::InvalidArgument("'" + std::string(item) + "' has a bad prefix length (0.." +
                                       std::to_string(max) + ")");
      len = std::stoi(std::string(digits));
    }
    IpNetwork n;
    n.bytes = to_bytes(addr);
    n.prefix = addr.is_v4() ? len + 96 : len;
    out.push_back(n);
  }
  return out;
}

void set_webhook_policy(WebhookPolicy policy) {
  std::lock_guard lock(policy_mu);
  policy_locked() = std::move(policy);
}

std::string webhook_address_refusal(std::string_view address) {
  beast::error_code ec;
  const auto a = net::ip::make_address(std::string(address), ec);
  if (ec) return {};
  return refusal(a, current_policy());
}

std::string webhook_url_problem(std::string_view url) {
  std::string why;
  auto u = parse_url(url, why);
  if (!u) return why;
  return webhook_address_refusal(u->host);
}

std::string PostResult::describe() const {
  if (!error.empty()) return error;
  return "HTTP " + std::to_string(status);
}

PostResult post_json(std::string_view url, std::string_view body,
                     std::chrono::milliseconds timeout) {
  std::string why;
  auto u = parse_url(url, why);
  if (!u) return {0, "bad URL: " + why};
  const WebhookPolicy policy = current_policy();

  net::io_context ioc;
  net::ip::tcp::resolver resolver(ioc);
  std::optional<ssl::context> tls;
  if (u->https) {
    tls.emplace(ssl::context::tls_client);
    beast::error_code ec;
    tls->set_default_verify_paths(ec);
    if (!policy.ca_file.empty()) {
      tls->load_verify_file(policy.ca_file, ec);
      if (ec) return {0, "cannot read the webhook CA file " + policy.ca_file + ": " + ec.message()};
    }
    tls->set_verify_mode(ssl::verify_peer);
  }
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  if (tls)
    secure.emplace(ioc, *tls);
  else
    plain.emplace(ioc);
  beast::tcp_stream& tcp = secure ? beast::get_lowest_layer(*secure) : *plain;
  if (secure) {
    SSL* ssl_handle = secure->native_handle();
    beast::error_code ec;
    net::ip::make_address(u->host, ec);  // an IP literal or a name?
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_handle);
    if (ec) {  // a name: SNI and the certificate must name it
      SSL_set_tlsext_host_name(ssl_handle, u->host.c_str());
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      X509_VERIFY_PARAM_set1_host(param, u->host.c_str(), 0);
    } else {
      X509_VERIFY_PARAM_set1_ip_asc(param, u->host.c_str());
    }
  }
  beast::flat_buffer buffer;
  bhttp::request<bhttp::string_body> req(bhttp::verb::post, u->target, 11);
  req.set(bhttp::field::host, u->authority);
  req.set(bhttp::field::user_agent, "fleetpulse-notifier");
  req.set(bhttp::field::content_type, "application/json");
  req.body() = std::string(body);
  req.prepare_payload();
  bhttp::response_parser<bhttp::string_body> res;  // only the status is used
  res.body_limit(64 * 1024);
  PostResult result;
  auto fail = [&](const std::string& what, beast::error_code ec) {
    result.error = what + ": " + ec.message();
  };

  tcp.expires_after(timeout);
  resolver.async_resolve(u->host, u->port, [&](beast::error_code ec, auto resolved) {
    if (ec) return fail("resolve " + u->host, ec);
    // Only the addresses that pass are connected to, and only these (never a second lookup,
    // which a rebinding name could answer differently); none passing: refused.
    std::vector<net::ip::tcp::endpoint> checked;
    std::string first_refusal;
    for (const auto& entry : resolved) {
      if (std::string no = refusal(entry.endpoint().address(), policy); !no.empty()) {
        if (first_refusal.empty()) first_refusal = std::move(no);
        continue;
      }
      checked.push_back(entry.endpoint());
    }
    if (checked.empty()) {
      result.error = "refused: " + u->host + " resolves to " + first_refusal;
      return;
    }
    tcp.async_connect(checked, [&](beast::error_code ec, const auto&) {
      if (ec) return fail("connect", ec);
      if (!secure) return exchange(tcp, req, buffer, res, result);
      secure->async_handshake(ssl::stream_base::client, [&](beast::error_code ec) {
        if (ec) return fail("tls handshake", ec);
        exchange(*secure, req, buffer, res, result);
      });
    });
  });
  // The stream's timer bounds connect/write/read; run_for also bounds a slow name lookup.
  ioc.run_for(timeout + std::chrono::milliseconds(200));
  if (result.error.empty() && result.status == 0) result.error = "timed out";
  return result;
}

}  // namespace fp
