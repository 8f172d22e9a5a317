// KPIs: GET /api/v1/devices/{id}/kpis?window=24h and GET /api/v1/kpis/summary?window=24h
// &group_by=type|location; KPI history: GET /api/v1/kpis/history?kpi=availability,...
// &device_id=ID|&group_by=type&start&end&step (the series of src/kpi/kpi_history.h, averaged
// per step).

#include <map>
#include <sstream>

#include "http/handlers/query_params.h"
#include "http/handlers/routes.h"
#include "kpi/kpi_series_keys.h"
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

// Averages the samples of series `id` in [start, end] per step (bucket start time).
void write_history_points(JsonWriter& w, const tsdb::TimeSeriesStore& store, tsdb::SeriesId id,
                          int64_t start, int64_t end, int64_t step) {
  std::map<int64_t, std::pair<double, int>> buckets;
  store.scan(id, start, end, [&](const tsdb::Sample& p) {
    auto& b = buckets[start + (p.ts - start) / step * step];
    b.first += p.value;
    ++b.second;
  });
  w.key("points").begin_array();
  for (const auto& [t, b] : buckets)
    w.begin_object().field("ts", format_rfc3339(t)).field("value", b.first / b.second).end_object();
  w.end_array();
}

void kpi_history(ApiContext& ctx, RequestContext& rc, const Responder& respond) {
  const Request& req = rc.request;
  const int64_t now = ctx.clock.now_ms();
  auto end = time_param(req, "end", now, now);
  if (!end.ok()) return respond(error_response(end.status()));
  auto start = time_param(req, "start", *end - 86'400'000, now);
  if (!start.ok()) return respond(error_response(start.status()));
  if (*start > *end || *end - *start > kMaxWindowMs)
    return respond(error_response(
        Status::InvalidArgument("start must be before end, at most 366 days apart")));
  int64_t step = std::max<int64_t>((*end - *start) / 300, 60'000);
  if (auto v = req.param("step")) {
    auto ms = parse_duration_ms(*v);
    if (!ms || *ms < 1000 || (*end - *start) / *ms > 11'000)
      return respond(error_response(Status::InvalidArgument(
          "step must be a duration of at least 1s giving at most 11000 points, e.g. 5m")));
    step = *ms;
  }
  std::vector<std::string> kpis;
  {
    std::stringstream list(std::string(req.param("kpi").value_or("availability")));
    for (std::string k; std::getline(list, k, ',');) {
      bool known = false;
      for (auto m : kpi_keys::kMetrics) known |= m == k;
      if (!known)
        return respond(error_response(Status::InvalidArgument(
            "kpi must be availability, uptime, response_time_ms, messages, errors, "
            "battery_level or devices (comma-separated)")));
      kpis.push_back(k);
    }
  }
  // The owners: one device, every device of a type, or the roll-ups by type.
  struct Owner {
    std::string key, device_id, type;
  };
  std::vector<Owner> owners;
  const auto group = req.param("group_by");
  const auto device = req.param("device_id");
  if (group && *group != "type")
    return respond(error_response(Status::InvalidArgument("group_by must be type")));
  if (group) {
    for (const std::string& key : ctx.store.index().devices())
      if (key.starts_with(kpi_keys::kTypePrefix))
        owners.push_back({key, "", key.substr(kpi_keys::kTypePrefix.size())});
    std::sort(owners.begin(), owners.end(),
              [](const Owner& a, const Owner& b) { return a.key < b.key; });
  } else if (device) {
    auto d = ctx.catalog.get_device(std::string(*device));
    if (!d.ok()) return respond(error_response(d.status()));
    owners.push_back({kpi_keys::device_key(d->device_id), d->device_id, d->type});
  } else {
    return respond(error_response(Status::InvalidArgument("give device_id or group_by=type")));
  }
  JsonWriter w;
  w.begin_object().field("start", format_rfc3339(*start)).field("end", format_rfc3339(*end));
  w.field("step", format_duration(step))
      .field("interval", format_duration(ctx.kpi_history_interval_ms));
  w.key("series").begin_array();
  std::string missing;  // why stored history may be missing (storage damage): "partial"
  for (const Owner& o : owners) {
    for (const std::string& k : kpis) {
      if (std::string m = ctx.store.missing_data(o.key, k, *start, *end);
          !m.empty() && missing.find(m) == std::string::npos)
        missing += (missing.empty() ? "" : "; ") + m;
      auto id = ctx.store.index().find(o.key, k);
      if (!id) continue;
      w.begin_object().field("kpi", k);
      if (!o.device_id.empty()) w.field("device_id", o.device_id);
      w.field("type", o.type);
      write_history_points(w, ctx.store, *id, *start, *end, step);
      w.end_object();
    }
  }
  w.end_array();
  if (!missing.empty()) w.field("partial", true).field("partial_reason", missing);
  w.end_object();
  respond(Response::json(200, w.take()));
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
  r.add(Method::kGet, "/api/v1/kpis/history", Access::kRead,
        [&ctx](RequestContext& rc, Responder respond) { kpi_history(ctx, rc, respond); });
}

}  // namespace fp::http
