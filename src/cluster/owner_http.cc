#include "cluster/owner_http.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "util/json_writer.h"

namespace fp::cluster {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;

}  // namespace

http::Response Unavailable(const std::string& message) {
  JsonWriter w;
  w.begin_object().key("error").begin_object();
  w.field("code", "unavailable").field("message", message);
  w.end_object().end_object();
  http::Response r = http::Response::json(503, w.take());
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

bool SplitAdvertiseUrl(const std::string& url, std::string& host, std::string& port) {
  constexpr std::string_view scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return false;
  std::string rest = url.substr(scheme.size());
  if (auto slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos) {
    host = rest;
    port = "80";
  } else {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return !host.empty() && !port.empty();
}

OwnerReply CallOwner(const std::string& host, const std::string& port, const OwnerRequest& req,
                     int64_t timeout_ms) {
  OwnerReply out;
  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(std::chrono::milliseconds(timeout_ms));
  beast::error_code ec;
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(host, port, ec);
  if (ec) {
    out.error = "the owner's address does not resolve: " + ec.message();
    return out;
  }
  // Asynchronous operations run to completion on `io`: tcp_stream's expiry bounds only
  // asynchronous operations (a synchronous read from a stopped owner would block forever).
  auto run = [&io] {
    io.restart();
    io.run();
  };
  stream.async_connect(endpoints, [&ec](beast::error_code e, const tcp::endpoint&) { ec = e; });
  run();
  if (ec) {
    out.error = "the owner does not answer: " + ec.message();
    return out;
  }
  bhttp::request<bhttp::string_body> r{bhttp::string_to_verb(req.method), req.target, 11};
  r.set(bhttp::field::host, host + ":" + port);
  if (!req.authorization.empty()) r.set(bhttp::field::authorization, req.authorization);
  if (!req.cookie.empty()) r.set(bhttp::field::cookie, req.cookie);
  if (!req.content_type.empty()) r.set(bhttp::field::content_type, req.content_type);
  r.body() = req.body;
  r.prepare_payload();
  bhttp::async_write(stream, r, [&ec](beast::error_code e, size_t) { ec = e; });
  run();
  if (ec) {
    out.error = "sending to the owner failed: " + ec.message();
    return out;
  }
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(256 * 1024 * 1024);
  bhttp::async_read(stream, buffer, parser, [&ec](beast::error_code e, size_t) { ec = e; });
  run();
  if (ec) {
    out.error = "the owner did not answer in time: " + ec.message();
    return out;
  }
  auto& res = parser.get();
  out.answered = true;
  out.response.status = static_cast<int>(res.result_int());
  out.response.content_type = std::string(res[bhttp::field::content_type]);
  out.response.body = std::move(res.body());
  if (auto it = res.find(bhttp::field::retry_after); it != res.end())
    out.response.headers.emplace_back("Retry-After", std::string(it->value()));
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return out;
}

}  // namespace fp::cluster
