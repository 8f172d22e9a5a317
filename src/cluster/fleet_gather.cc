#include "cluster/fleet_gather.h"

#include <future>
#include <map>

#include "cluster/gather_export.h"
#include "cluster/gather_merge.h"
#include "cluster/owner_http.h"

namespace fp::cluster {
namespace {

constexpr std::string_view kLocalMarker = "fp_local";

}  // namespace

FleetGather::FleetGather(const ClusterNode& node, int64_t timeout_ms, const ForwardAuth* auth,
                         size_t max_concurrent)
    : node_(node), timeout_ms_(timeout_ms), auth_(auth), jobs_(max_concurrent), relay_(node) {}

FleetGather::~FleetGather() = default;

bool FleetGather::MaybeGather(const http::Request& req, http::Responder& respond) {
  if (req.method != http::Method::kGet && req.method != http::Method::kPost) return false;
  GatherRequest g;
  g.kind = GatherKindOf(req.path);
  const bool streamed = req.method == http::Method::kGet &&
                        (req.path == "/api/v1/export" || req.path == "/api/v1/stream");
  if (g.kind == GatherKind::kNone && !streamed) return false;
  if (req.method == http::Method::kPost && g.kind != GatherKind::kPromQuery &&
      g.kind != GatherKind::kPromList)
    return false;
  if (req.query.count(std::string(kLocalMarker)) > 0) return false;  // an owner's own part
  g.partitions_total = node_.options().partitions;
  g.query = req.query;
  if (req.method == http::Method::kPost &&
      req.content_type.find("x-www-form-urlencoded") != std::string::npos) {
    // Prometheus POST: the query is in the form body; the merge needs `query`.
    std::string_view body = req.body;
    while (!body.empty()) {
      const size_t amp = body.find('&');
      std::string_view pair = body.substr(0, amp);
      if (pair.starts_with("query=")) {
        std::string v;
        for (size_t i = 6; i < pair.size(); ++i) {
          if (pair[i] == '+') {
            v += ' ';
          } else if (pair[i] == '%' && i + 2 < pair.size()) {
            v += static_cast<char>(std::stoi(std::string(pair.substr(i + 1, 2)), nullptr, 16));
            i += 2;
          } else {
            v += pair[i];
          }
        }
        g.query["query"] = v;
      }
      if (amp == std::string_view::npos) break;
      body.remove_prefix(amp + 1);
    }
  }
  // Partitions by owner in this node's view; no owner (or our own lapsed lease): missing.
  std::map<std::string, std::vector<uint32_t>> by_owner;
  for (const PartitionView& p : node_.partitions()) {
    const bool self = p.owner == node_.options().node_id;
    if (p.owner.empty() || (self && !p.served_here))
      g.unowned.push_back(p.id);
    else
      by_owner[p.owner].push_back(p.id);
  }
  std::map<std::string, std::string> advertise;
  for (const NodeView& n : node_.nodes()) advertise[n.id] = n.advertise;
  if (g.kind == GatherKind::kMetrics)  // every node has metrics, owner or not
    for (const NodeView& n : node_.nodes()) by_owner[n.id];
  OwnerRequest base;
  base.method = std::string(http::to_string(req.method));
  base.target = req.target + (req.target.find('?') == std::string::npos ? "?" : "&") +
                std::string(kLocalMarker) + "=1";
  ForwardAuth::Headers h = auth_->For(req);
  base.authorization = std::move(h.authorization);
  base.cookie = std::move(h.cookie);
  base.content_type = req.content_type;
  base.body = req.body;
  if (req.path == "/api/v1/stream") {
    relay_.Serve(std::move(base), respond);
    return true;
  }
  if (req.path == "/api/v1/export") return GatherExport(req, g, by_owner, advertise, base, respond);
  auto shared_respond = std::make_shared<http::Responder>(std::move(respond));
  const bool started = jobs_.try_run(
      [g = std::move(g), by_owner = std::move(by_owner), advertise = std::move(advertise),
       base = std::move(base), timeout = timeout_ms_, shared_respond](const std::atomic<bool>&) {
        std::vector<std::future<OwnerAnswer>> calls;
        for (const auto& [owner, parts] : by_owner) {
          calls.push_back(std::async(std::launch::async, [&, owner = owner, parts = parts] {
            OwnerAnswer a;
            a.node = owner;
            a.partitions = parts;
            std::string host, port;
            auto it = advertise.find(owner);
            if (it == advertise.end() || !SplitAdvertiseUrl(it->second, host, port)) return a;
            OwnerReply r = CallOwner(host, port, base, timeout);
            a.answered = r.answered;
            a.status = r.response.status;
            a.content_type = r.response.content_type;
            a.body = std::move(r.response.body);
            return a;
          }));
        }
        std::vector<OwnerAnswer> answers;
        for (auto& c : calls) answers.push_back(c.get());
        GatherResponse merged = MergeGathered(g, answers);
        http::Response out;
        out.status = merged.status;
        out.content_type = merged.content_type;
        out.body = std::move(merged.body);
        if (out.status == 503) out.headers.emplace_back("Retry-After", "1");
        (*shared_respond)(std::move(out));
      });
  if (!started)
    (*shared_respond)(Unavailable("too many fleet reads being gathered; retry shortly"));
  return true;
}

bool FleetGather::GatherExport(const http::Request& req, const GatherRequest& g,
                               const std::map<std::string, std::vector<uint32_t>>& by_owner,
                               const std::map<std::string, std::string>& advertise,
                               const OwnerRequest& base, http::Responder& respond) {
  ExportGather e;
  e.unowned = g.unowned;
  e.partitions_total = g.partitions_total;
  e.base = base;
  e.csv = req.param("format") == "csv";
  e.open_timeout_ms = timeout_ms_;
  for (const auto& [owner, parts] : by_owner) {
    ExportOwner o;
    o.node = owner;
    o.partitions = parts;
    auto it = advertise.find(owner);
    if (it == advertise.end() || !SplitAdvertiseUrl(it->second, o.host, o.port)) o.host.clear();
    e.owners.push_back(std::move(o));
  }
  auto shared_respond = std::make_shared<http::Responder>(std::move(respond));
  const bool started =
      jobs_.try_run([e = std::move(e), shared_respond](const std::atomic<bool>& stop) {
        RunGatheredExport(e, std::move(*shared_respond), stop);
      });
  if (!started)
    (*shared_respond)(Unavailable("too many fleet reads being gathered; retry shortly"));
  return true;
}

}  // namespace fp::cluster
