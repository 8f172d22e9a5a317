#include "alerting/webhook_client.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "alerting/rule.h"

namespace fp {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

std::string PostResult::describe() const {
  if (!error.empty()) return error;
  return "HTTP " + std::to_string(status);
}

PostResult post_json(std::string_view url, std::string_view body,
                     std::chrono::milliseconds timeout) {
  if (std::string why = validate_webhook_url(url); !why.empty()) return {0, "bad URL: " + why};
  // http://host[:port][/path]
  std::string_view rest = url.substr(7);
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  const std::string target =
      slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  std::string host(authority), port = "80";
  if (!authority.empty() && authority.front() == '[') {  // [v6]:port
    const size_t close = authority.find(']');
    host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size() && authority[close + 1] == ':')
      port = std::string(authority.substr(close + 2));
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = std::string(authority.substr(0, colon));
    port = std::string(authority.substr(colon + 1));
  }

  net::io_context ioc;
  net::ip::tcp::resolver resolver(ioc);
  beast::tcp_stream stream(ioc);
  beast::flat_buffer buffer;
  bhttp::request<bhttp::string_body> req(bhttp::verb::post, target, 11);
  req.set(bhttp::field::host, std::string(authority));
  req.set(bhttp::field::user_agent, "fleetpulse-notifier");
  req.set(bhttp::field::content_type, "application/json");
  req.body() = std::string(body);
  req.prepare_payload();
  bhttp::response_parser<bhttp::string_body> res;  // only the status is used
  res.body_limit(64 * 1024);
  PostResult result;
  auto fail = [&](const char* what, beast::error_code ec) {
    result.error = std::string(what) + ": " + ec.message();
  };

  stream.expires_after(timeout);
  resolver.async_resolve(host, port, [&](beast::error_code ec, auto endpoints) {
    if (ec) return fail("resolve", ec);
    stream.async_connect(endpoints, [&](beast::error_code ec, auto) {
      if (ec) return fail("connect", ec);
      bhttp::async_write(stream, req, [&](beast::error_code ec, size_t) {
        if (ec) return fail("write", ec);
        bhttp::async_read(stream, buffer, res, [&](beast::error_code ec, size_t) {
          if (ec && !res.is_header_done()) return fail("read", ec);
          result.status = static_cast<int>(res.get().result_int());
          beast::error_code ignored;
          stream.socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
        });
      });
    });
  });
  // The stream's timer bounds connect/write/read; run_for also bounds a slow name lookup.
  ioc.run_for(timeout + std::chrono::milliseconds(200));
  if (result.error.empty() && result.status == 0) result.error = "timed out";
  return result;
}

}  // namespace fp
