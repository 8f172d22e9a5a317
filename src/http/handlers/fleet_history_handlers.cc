// The overview's history: GET /api/v1/stats/history?start=-24h&end=now — the fleet samples
// kept by fleet_history (ingest rate, devices by status, open alerts), oldest first, with
// `"partial":true` and the reason when unacknowledged storage damage lost readings in the range.

#include "fleet_history/fleet_history.h"
#include "http/handlers/query_params.h"
#include "http/handlers/routes.h"
#include "model/time_format.h"
#include "util/json_writer.h"

namespace fp::http {
namespace {

void stats_history(ApiContext& ctx, RequestContext& rc, const Responder& respond) {
  if (!ctx.fleet_history)
    return respond(error_response(503, "unavailable", "the fleet history is not kept"));
  const int64_t now = ctx.clock.now_ms();
  auto start = time_param(rc.request, "start", now - 86'400'000, now);
  if (!start.ok()) return respond(error_response(start.status()));
  auto end = time_param(rc.request, "end", now, now);
  if (!end.ok()) return respond(error_response(end.status()));
  if (*end < *start)
    return respond(error_response(400, "invalid_parameter", "end must not be before start"));
  JsonWriter w;
  w.begin_object();
  w.field("interval", format_duration(ctx.fleet_history_interval_ms));
  w.field("start", format_rfc3339(*start)).field("end", format_rfc3339(*end));
  w.key("samples").begin_array();
  for (const FleetSample& s : ctx.fleet_history->range(*start, *end)) {
    w.begin_object().field("ts", format_rfc3339(s.ts_ms));
    w.field("ingest_rate_per_s", s.ingest_per_s);
    w.key("devices").begin_object();
    w.field("online", s.online).field("at_risk", s.at_risk).field("offline", s.offline);
    w.field("unknown", s.unknown);
    w.field("total", s.online + s.at_risk + s.offline + s.unknown).end_object();
    w.field("open_alerts", s.open_alerts).end_object();
  }
  w.end_array();
  // The samples summarise every device's readings: damage not yet acknowledged that lost
  // readings of any series in the range makes the window incomplete, and the answer says so.
  if (std::string m = ctx.store.missing_data("", "", *start, *end); !m.empty())
    w.field("partial", true).field("partial_reason", m);
  w.end_object();
  respond(Response::json(200, w.take()));
}

}  // namespace

void add_fleet_history_routes(Router& r, ApiContext& ctx) {
  r.add(Method::kGet, "/api/v1/stats/history", Access::kRead,
        [&ctx](RequestContext& rc, Responder respond) { stats_history(ctx, rc, respond); });
}

}  // namespace fp::http
