// Fleet figures: /api/v1/stats (JSON) and /metrics (Prometheus text exposition).

#include "alerting/alert_engine.h"
#include "http/handlers/data_dir_usage.h"
#include "http/handlers/routes.h"
#include "http/handlers/stats_json.h"
#include "model/time_format.h"
#include "util/json_writer.h"

namespace fp::http {

std::string stats_json(ApiContext& ctx) {
  const auto counts = ctx.tracker.counts();
  const int64_t now = ctx.clock.now_ms();
  JsonWriter w;
  w.begin_object();
  w.key("devices").begin_object();
  int64_t total = 0;
  for (int s = 0; s < kDeviceStatusCount; ++s) {
    w.field(to_string(static_cast<DeviceStatus>(s)), counts[static_cast<size_t>(s)]);
    total += counts[static_cast<size_t>(s)];
  }
  w.field("total", total);
  w.end_object();
  const auto st = ctx.ingestor.stats();
  w.field("heartbeats", st.heartbeats);
  w.field("series", ctx.store.series());
  w.field("points_stored", ctx.store.points());
  w.field("wal_bytes", ctx.store.wal_bytes());
  w.field("ingest_rate_per_s", ctx.ingest_rate.rate(now));
  w.field("open_alerts", ctx.alerts ? ctx.alerts->open_total() : int64_t{0});
  w.field("disk_bytes", disk_usage(ctx.data_dir).data_bytes);
  w.field("uptime_s", (now - ctx.started_at_ms) / 1000);
  w.field("time", format_rfc3339(now));
  w.end_object();
  return w.take();
}

void add_stats_routes(Router& r, ApiContext& ctx) {
  r.add(Method::kGet, "/api/v1/stats", Access::kRead, [&ctx](RequestContext&, Responder respond) {
    respond(Response::json(200, stats_json(ctx)));
  });
  r.add(Method::kGet, "/metrics", Access::kRead, [&ctx](RequestContext&, Responder respond) {
    Response res;
    res.content_type = "text/plain; version=0.0.4; charset=utf-8";
    res.body = ctx.registry.expose();
    respond(std::move(res));
  });
}

}  // namespace fp::http
