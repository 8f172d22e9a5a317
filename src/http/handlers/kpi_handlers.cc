// KPIs: GET /api/v1/devices/{id}/kpis?window=24h and GET /api/v1/kpis/summary?window=24h
// &group_by=type|location.

#include "http/handlers/routes.h"
#include "kpi/kpi_service.h"
#include "model/time_format.h"
#include "util/json_writer.h"

namespace fp::http {
namespace {

constexpr int64_t kMaxWindowMs = 366LL * 86'400'000;

Result<int64_t> window_param(const Request& req) {
  auto v = req.param("window");
  if (!v) return int64_t{86'400'000};
  auto ms = parse_duration_ms(*v);
  if (!ms || *ms < 1000 || *ms > kMaxWindowMs)
    return Status::InvalidArgument("window must be a duration from 1s to 366d, e.g. 24h");
  return *ms;
}

// The KPI fields shared by a device and a group.
void write_kpis(JsonWriter& w, const DeviceKpis& k) {
  w.field("availability_pct", k.availability_pct).field("uptime_pct", k.uptime_pct);
  w.field("mtbf_s", k.mtbf_s).field("mttr_s", k.mttr_s);
  w.key("response_time_ms").begin_object();
  w.field("avg", k.response_avg_ms).field("p95", k.response_p95_ms).end_object();
  w.field("error_rate", k.error_rate);
  w.field("messages_per_min", k.messages_per_min).field("bytes_per_min", k.bytes_per_min);
  w.field("status_consistency", k.status_consistency);
  w.field("battery_drain_pct_per_day", k.battery_drain_pct_per_day);
  w.key("battery_empty_at");
  if (k.battery_empty_at_ms)
    w.value(format_rfc3339(*k.battery_empty_at_ms));
  else
    w.null();
  w.field("messages", k.messages).field("bytes", k.bytes).field("rejected", k.rejected);
  w.key("activity_since");
  if (k.activity_since_ms > 0)
    w.value(format_rfc3339(k.activity_since_ms));
  else
    w.null();
}

void write_group(JsonWriter& w, const GroupKpis& g) {
  w.begin_object().field("key", g.key).field("devices", g.devices);
  w.field("window", format_duration(g.kpis.window_ms));
  write_kpis(w, g.kpis);
  w.end_object();
}

}  // namespace

void add_kpi_routes(Router& r, ApiContext& ctx) {
  r.add(Method::kGet, "/api/v1/devices/{id}/kpis", Access::kRead,
        [&ctx](RequestContext& rc, Responder respond) {
          auto window = window_param(rc.request);
          if (!window.ok()) return respond(error_response(window.status()));
          const std::string& id = rc.params.get("id");
          auto k = ctx.kpis->device(id, *window);
          if (!k.ok()) return respond(error_response(k.status()));
          JsonWriter w;
          w.begin_object().field("device_id", id);
          w.field("window", rc.request.param("window").value_or("24h"));
          write_kpis(w, *k);
          w.end_object();
          respond(Response::json(200, w.take()));
        });
  r.add(Method::kGet, "/api/v1/kpis/summary", Access::kRead,
        [&ctx](RequestContext& rc, Responder respond) {
          auto window = window_param(rc.request);
          if (!window.ok()) return respond(error_response(window.status()));
          KpiGroupBy group_by = KpiGroupBy::kNone;
          if (auto g = rc.request.param("group_by")) {
            if (*g == "type")
              group_by = KpiGroupBy::kType;
            else if (*g == "location")
              group_by = KpiGroupBy::kLocation;
            else if (*g != "none" && !g->empty())
              return respond(
                  error_response(Status::InvalidArgument("group_by must be type or location")));
          }
          auto s = ctx.kpis->summary(*window, group_by);
          if (!s.ok()) return respond(error_response(s.status()));
          JsonWriter w;
          w.begin_object().field("window", rc.request.param("window").value_or("24h"));
          w.key("group_by");
          if (group_by == KpiGroupBy::kNone)
            w.null();
          else
            w.value(group_by == KpiGroupBy::kType ? "type" : "location");
          w.key("fleet");
          write_group(w, s->fleet);
          w.key("groups").begin_array();
          for (const GroupKpis& g : s->groups) write_group(w, g);
          w.end_array().end_object();
          respond(Response::json(200, w.take()));
        });
}

}  // namespace fp::http
