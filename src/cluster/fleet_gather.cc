#include "cluster/fleet_gather.h"

#include <cctype>
#include <chrono>
#include <future>
#include <map>
#include <optional>

#include "cluster/gather_export.h"
#include "cluster/gather_merge.h"
#include "cluster/gather_promql.h"
#include "cluster/owner_http.h"

namespace fp::cluster {
namespace {

constexpr std::string_view kLocalMarker = "fp_local";

std::string PercentDecode(std::string_view in) {
  std::string v;
  for (size_t i = 0; i < in.size(); ++i) {
    const auto hex = [](char c) {
      return c >= '0' && c <= '9'                     ? c - '0'
             : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10
                                                      : -1;
    };
    if (in[i] == '+') {
      v += ' ';
    } else if (in[i] == '%' && i + 2 < in.size() && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
      v += static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2]));
      i += 2;
    } else {
      v += in[i];
    }
  }
  return v;
}

// The pairs of an application/x-www-form-urlencoded body.
std::vector<std::pair<std::string, std::string>> DecodeForm(std::string_view body) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!body.empty()) {
    const size_t amp = body.find('&');
    std::string_view pair = body.substr(0, amp);
    const size_t eq = pair.find('=');
    if (!pair.empty())
      out.emplace_back(PercentDecode(pair.substr(0, eq)),
                       eq == std::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1)));
    if (amp == std::string_view::npos) break;
    body.remove_prefix(amp + 1);
  }
  return out;
}

std::string UrlEncode(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : in) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
        c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[(static_cast<unsigned char>(c) >> 4) & 0xF];
      out += kHex[static_cast<unsigned char>(c) & 0xF];
    }
  }
  return out;
}

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
    // Prometheus POST: the parameters are in the form body; the merge needs `query`.
    for (auto& [k, v] : DecodeForm(req.body)) g.query[k] = v;
  }
  // avg/topk/quantile/...: every owner's series of the argument, aggregated once here.
  std::optional<OuterAggregation> exact;
  std::shared_ptr<const RawQuery> raw;  // evaluated here over every owner's raw series
  if (g.kind == GatherKind::kPromQuery)
    if (auto q = g.query.find("query"); q != g.query.end()) {
      const PromPlan plan = PlanOf(q->second);
      if (plan == PromPlan::kAggregateOnce) exact = GatheredAggregationOf(q->second);
      const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      // Parameters that do not parse go to the owners as they are: their 400 is the answer.
      if (plan == PromPlan::kRawSeries)
        if (auto r = ParseRawQuery(g.query, req.path.ends_with("_range"), now))
          raw = std::make_shared<const RawQuery>(std::move(*r));
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
  if (exact) {
    g.query["query"] = exact->inner;
    base.method = "GET";
    base.body.clear();
    base.content_type.clear();
    base.target = req.path + "?";
    for (const auto& [k, v] : g.query) base.target += UrlEncode(k) + "=" + UrlEncode(v) + "&";
    base.target += std::string(kLocalMarker) + "=1";
  }
  if (raw) return GatherPromRaw(std::move(raw), g, by_owner, advertise, base, respond);
  if (req.path == "/api/v1/stream") {
    relay_.Serve(std::move(base), respond, auth_->SessionCheck(req));
    return true;
  }
  if (req.path == "/api/v1/export") return GatherExport(req, g, by_owner, advertise, base, respond);
  auto shared_respond = std::make_shared<http::Responder>(std::move(respond));
  const bool started = jobs_.try_run([g = std::move(g), by_owner = std::move(by_owner),
                                      advertise = std::move(advertise), base = std::move(base),
                                      timeout = timeout_ms_, shared_respond,
                                      exact = std::move(exact)](const std::atomic<bool>&) {
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
    if (exact && merged.status == 200) merged.body = ApplyAggregation(*exact, merged.body);
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

bool FleetGather::GatherPromRaw(std::shared_ptr<const RawQuery> q, const GatherRequest& g,
                                const std::map<std::string, std::vector<uint32_t>>& by_owner,
                                const std::map<std::string, std::string>& advertise,
                                const OwnerRequest& base, http::Responder& respond) {
  auto shared_respond = std::make_shared<http::Responder>(std::move(respond));
  promql::EngineOptions opt;
  opt.limits = promql_limits_;
  const bool started =
      jobs_.try_run([q = std::move(q), g, by_owner, advertise, base, opt, timeout = timeout_ms_,
                     shared_respond](const std::atomic<bool>&) {
        const std::vector<SelectCall> calls = RecordSelects(*q, opt);
        struct OwnerCalls {
          std::set<uint32_t> partitions;
          std::vector<std::future<OwnerReply>> replies;  // one per call
        };
        std::vector<OwnerCalls> owners;
        for (const auto& [owner, parts] : by_owner) {
          OwnerCalls& o = owners.emplace_back();
          o.partitions.insert(parts.begin(), parts.end());
          std::string host, port;
          auto it = advertise.find(owner);
          const bool reachable = it != advertise.end() && SplitAdvertiseUrl(it->second, host, port);
          for (const SelectCall& c : calls)
            o.replies.push_back(
                std::async(std::launch::async, [&base, &c, host, port, reachable, timeout] {
                  if (!reachable) return OwnerReply{};
                  OwnerRequest r = base;
                  r.method = "GET";
                  r.target = SelectTarget(c);
                  r.body.clear();
                  r.content_type.clear();
                  return CallOwner(host, port, r, timeout);
                }));
        }
        std::set<uint32_t> missing(g.unowned.begin(), g.unowned.end());
        ReplaySource src;
        std::vector<std::string> warnings;
        std::optional<http::Response> refused;  // an owner's 4xx: the request itself is wrong
        size_t answered = 0;
        for (OwnerCalls& o : owners) {
          std::vector<OwnerReply> replies;
          for (auto& f : o.replies) replies.push_back(f.get());
          bool ok = true;
          for (const OwnerReply& r : replies) {
            if (r.answered && r.response.status >= 400 && r.response.status < 500 && !refused)
              refused = r.response;
            ok = ok && r.answered && r.response.status == 200;
          }
          for (size_t i = 0; ok && i < calls.size(); ++i)  // all of an owner's answers, or none
            ok = src.Add(calls[i], replies[i].response.body, o.partitions, g.partitions_total,
                         warnings);
          if (!ok) {
            missing.insert(o.partitions.begin(), o.partitions.end());
            continue;
          }
          ++answered;
        }
        if (refused) return (*shared_respond)(std::move(*refused));
        const std::vector<uint32_t> missing_list(missing.begin(), missing.end());
        if (answered == 0 && !calls.empty()) {
          http::Response out =
              Unavailable("no partition owner answered this fleet read; retry shortly");
          return (*shared_respond)(std::move(out));
        }
        EvaluatedAnswer a = Evaluate(*q, src, opt, std::move(warnings), missing_list);
        http::Response out;
        out.status = a.status;
        out.content_type = "application/json";
        out.body = std::move(a.body);
        (*shared_respond)(std::move(out));
      });
  if (!started)
    (*shared_respond)(Unavailable("too many fleet reads being gathered; retry shortly"));
  return true;
}

}  // namespace fp::cluster
