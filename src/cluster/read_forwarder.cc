#include "cluster/read_forwarder.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <optional>

#include "cluster/carried_alert.h"
#include "cluster/owner_http.h"
#include "cluster/partition.h"

namespace fp::cluster {
namespace {

constexpr std::string_view kPrefix = "/api/v1/devices/";
constexpr std::string_view kMarker = "fp_forwarded";

// The device a request is about and whether it goes to the device's owner: every GET below
// /api/v1/devices/{id}, and the device writes that need the owner's catalog (POST
// /api/v1/devices — the id is in the body — and PUT / PATCH / DELETE /api/v1/devices/{id}),
// and a manual alert (POST /api/v1/alerts, the id is in the body). Empty: not forwarded (a
// body that is not a JSON object with a string device_id is refused where it arrived).
std::string OwnedDevice(const http::Request& req) {
  if (req.method == http::Method::kPost &&
      (req.path == "/api/v1/devices" || req.path == "/api/v1/alerts") &&
      req.content_encoding.empty()) {
    simdjson::dom::parser parser;
    std::string_view id;
    if (parser.parse(req.body.data(), req.body.size())["device_id"].get_string().get(id)) return {};
    return std::string(id);
  }
  // A command (POST /api/v1/devices/{id}/commands, branch relay): the owner's catalog says
  // whether the device exists; the owner delivers it wherever the device is connected.
  constexpr std::string_view kCommands = "/commands";
  if (req.method == http::Method::kPost && req.path.rfind(kPrefix, 0) == 0 &&
      req.path.ends_with(kCommands) && req.content_encoding.empty()) {
    std::string device = req.path.substr(kPrefix.size());
    device.resize(device.size() - std::min(device.size(), kCommands.size()));
    return device.find('/') == std::string::npos ? device : std::string();
  }
  const bool write = req.method == http::Method::kPut || req.method == http::Method::kPatch ||
                     req.method == http::Method::kDelete;
  if ((req.method != http::Method::kGet && !write) || req.path.rfind(kPrefix, 0) != 0) return {};
  std::string device = req.path.substr(kPrefix.size());
  if (auto slash = device.find('/'); slash != std::string::npos) {
    if (write) return {};  // only the device itself is written through its owner
    device.resize(slash);
  }
  if (write && !req.content_encoding.empty()) return {};
  return device;
}

// One alert (GET /api/v1/alerts/{id}, POST .../acknowledge, .../resolve) goes to the owner of
// the partition its cluster-wide id names (carried_alert.h). nullopt: not such a request, or
// not a cluster id (the local handler then answers, e.g. 404).
std::optional<uint32_t> AlertPartition(const http::Request& req, uint32_t partitions) {
  constexpr std::string_view kAlerts = "/api/v1/alerts/";
  if (req.path.rfind(kAlerts, 0) != 0) return std::nullopt;
  std::string_view rest = std::string_view(req.path).substr(kAlerts.size());
  std::string_view id = rest.substr(0, rest.find('/'));
  const std::string_view action = rest.substr(id.size());
  const bool read = req.method == http::Method::kGet && action.empty();
  const bool act =
      req.method == http::Method::kPost && (action == "/acknowledge" || action == "/resolve");
  if (!read && !act) return std::nullopt;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(id.data(), id.data() + id.size(), v);
  if (ec != std::errc() || p != id.data() + id.size() || v < static_cast<int64_t>(partitions))
    return std::nullopt;
  return PartitionOfAlertId(v, partitions);
}

}  // namespace

ReadForwarder::ReadForwarder(const ClusterNode& node, int64_t timeout_ms, ApiKeyAuthenticator* keys,
                             SessionStore* sessions, size_t max_concurrent,
                             std::string assertion_secret)
    : node_(node),
      timeout_ms_(timeout_ms),
      jobs_(max_concurrent),
      auth_(keys, sessions, node.options().node_id, std::move(assertion_secret)),
      gather_(node, timeout_ms / 2, &auth_) {}

ReadForwarder::~ReadForwarder() = default;

bool ReadForwarder::MaybeForward(const http::Request& req, http::Responder& respond) {
  if (gather_.MaybeGather(req, respond)) return true;
  const uint32_t partitions = node_.options().partitions;
  std::string what;  // for the 503's message
  uint32_t partition = 0;
  if (const std::string device = OwnedDevice(req); !device.empty()) {
    partition = PartitionOf(device, partitions);
    what = "device '" + device + "'";
  } else if (auto p = AlertPartition(req, partitions)) {
    partition = *p;
    what = "the alert";
  } else {
    return false;
  }
  const std::vector<PartitionView> parts = node_.partitions();
  const PartitionView& view = parts.at(partition);
  if (view.served_here) return false;  // ours: answer from the local engine
  ForwardAuth::Headers h = auth_.For(req);
  if (h.serve_here) return false;  // a session write refused here, as on one node
  const bool forwarded = req.query.count(std::string(kMarker)) > 0;
  if (forwarded || view.owner.empty() || view.owner == node_.options().node_id) {
    respond(Unavailable("partition " + std::to_string(partition) + " of " + what +
                        " has no owner right now; retry shortly"));
    return true;
  }
  std::string advertise;
  for (const NodeView& n : node_.nodes())
    if (n.id == view.owner) advertise = n.advertise;
  std::string host, port;
  if (!SplitAdvertiseUrl(advertise, host, port)) {
    respond(Unavailable("the owner of partition " + std::to_string(partition) + " ('" + view.owner +
                        "') has no usable --advertise URL"));
    return true;
  }
  std::string target = req.target;
  target += (target.find('?') == std::string::npos ? "?" : "&") + std::string(kMarker) + "=1";
  auto shared_respond = std::make_shared<http::Responder>(std::move(respond));
  OwnerRequest call;
  call.method = std::string(http::to_string(req.method));
  call.target = std::move(target);
  if (!req.body.empty()) {
    call.content_type = req.content_type;
    call.body = req.body;
  }
  call.authorization = std::move(h.authorization);
  call.cookie = std::move(h.cookie);
  const bool started = jobs_.try_run([host, port, call = std::move(call), timeout = timeout_ms_,
                                      shared_respond](const std::atomic<bool>&) {
    OwnerReply r = CallOwner(host, port, call, timeout);
    (*shared_respond)(r.answered ? std::move(r.response) : Unavailable(r.error));
  });
  if (!started) (*shared_respond)(Unavailable("too many reads being forwarded; retry shortly"));
  return true;
}

}  // namespace fp::cluster
