#include "cluster/read_forwarder.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "cluster/partition.h"
#include "util/json_writer.h"

namespace fp::cluster {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;

constexpr std::string_view kPrefix = "/api/v1/devices/";
constexpr std::string_view kMarker = "fp_forwarded";

http::Response Unavailable(const std::string& message) {
  JsonWriter w;
  w.begin_object().key("error").begin_object();
  w.field("code", "unavailable").field("message", message);
  w.end_object().end_object();
  http::Response r = http::Response::json(503, w.take());
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

// http://host:port -> (host, port); false for anything else (https is not forwarded yet).
bool SplitUrl(const std::string& url, std::string& host, std::string& port) {
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

http::Response Fetch(const std::string& host, const std::string& port, const std::string& target,
                     const std::string& authorization, int64_t timeout_ms) {
  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(std::chrono::milliseconds(timeout_ms));
  beast::error_code ec;
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(host, port, ec);
  if (ec) return Unavailable("the owner's address does not resolve: " + ec.message());
  stream.connect(endpoints, ec);
  if (ec) return Unavailable("the owner does not answer: " + ec.message());
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, target, 11};
  req.set(bhttp::field::host, host + ":" + port);
  if (!authorization.empty()) req.set(bhttp::field::authorization, authorization);
  bhttp::write(stream, req, ec);
  if (ec) return Unavailable("forward to the owner failed: " + ec.message());
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(256 * 1024 * 1024);
  bhttp::read(stream, buffer, parser, ec);
  if (ec) return Unavailable("the owner did not answer in time: " + ec.message());
  auto& res = parser.get();
  http::Response out;
  out.status = static_cast<int>(res.result_int());
  out.content_type = std::string(res[bhttp::field::content_type]);
  out.body = std::move(res.body());
  if (auto it = res.find(bhttp::field::retry_after); it != res.end())
    out.headers.emplace_back("Retry-After", std::string(it->value()));
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return out;
}

}  // namespace

ReadForwarder::ReadForwarder(const ClusterNode& node, int64_t timeout_ms, size_t max_concurrent)
    : node_(node), timeout_ms_(timeout_ms), jobs_(max_concurrent) {}

ReadForwarder::~ReadForwarder() = default;

bool ReadForwarder::MaybeForward(const http::Request& req, http::Responder& respond) {
  if (req.method != http::Method::kGet || req.path.rfind(kPrefix, 0) != 0) return false;
  std::string device = req.path.substr(kPrefix.size());
  if (auto slash = device.find('/'); slash != std::string::npos) device.resize(slash);
  if (device.empty()) return false;
  const uint32_t partition = PartitionOf(device, node_.options().partitions);
  const std::vector<PartitionView> parts = node_.partitions();
  const PartitionView& view = parts.at(partition);
  if (view.served_here) return false;  // ours: answer from the local engine
  const bool forwarded = req.query.count(std::string(kMarker)) > 0;
  if (forwarded || view.owner.empty() || view.owner == node_.options().node_id) {
    respond(Unavailable("partition " + std::to_string(partition) + " of device '" + device +
                        "' has no owner right now; retry shortly"));
    return true;
  }
  std::string advertise;
  for (const NodeView& n : node_.nodes())
    if (n.id == view.owner) advertise = n.advertise;
  std::string host, port;
  if (!SplitUrl(advertise, host, port)) {
    respond(Unavailable("the owner of partition " + std::to_string(partition) + " ('" + view.owner +
                        "') has no usable --advertise URL"));
    return true;
  }
  std::string target = req.target;
  target += (target.find('?') == std::string::npos ? "?" : "&") + std::string(kMarker) + "=1";
  auto shared_respond = std::make_shared<http::Responder>(std::move(respond));
  const bool started =
      jobs_.try_run([host, port, target, auth = req.authorization, timeout = timeout_ms_,
                     shared_respond](const std::atomic<bool>&) {
        (*shared_respond)(Fetch(host, port, target, auth, timeout));
      });
  if (!started) (*shared_respond)(Unavailable("too many reads being forwarded; retry shortly"));
  return true;
}

}  // namespace fp::cluster
