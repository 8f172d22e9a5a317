// Health: /health (liveness), /ready (storage recovered and open), and
// /api/v1/health/detailed (each component with its state).

#include "http/handlers/data_dir_usage.h"
#include "http/handlers/routes.h"
#include "util/json_writer.h"

namespace fp::http {
namespace {

// Below these the disk is reported as low / critical.
constexpr uint64_t kDiskLowBytes = 1ull << 30;
constexpr uint64_t kDiskCriticalBytes = 100ull << 20;

void detailed(ApiContext& ctx, const Responder& respond) {
  bool healthy = ctx.ready.load();
  JsonWriter w;
  w.begin_object();
  w.key("components").begin_object();

  auto count = ctx.catalog.count_devices();
  w.key("catalog").begin_object();
  w.field("state", count.ok() ? "ok" : "error");
  w.field("engine", "sqlite");
  w.field("schema_version", ctx.catalog.schema_version());
  if (count.ok())
    w.field("devices", *count);
  else
    w.field("message", count.status().message());
  w.end_object();
  healthy = healthy && count.ok();

  const auto st = ctx.ingestor.stats();
  w.key("storage").begin_object();
  w.field("state", st.commit_errors == 0 ? "ok" : "degraded");
  w.field("commits", st.commits);
  w.field("commit_errors", st.commit_errors);
  w.field("pending", st.pending);
  w.end_object();

  const WalStats wal = ctx.store.wal_stats();
  w.key("wal").begin_object();
  w.field("state", "ok");
  w.field("bytes", wal.bytes);
  w.field("segments", wal.segments);
  w.field("fsyncs", wal.fsyncs);
  w.field("last_synced_lsn", wal.last_synced_lsn);
  w.end_object();
  w.key("tsdb").begin_object();
  w.field("state", ctx.store.over_budget() ? "full" : "ok");
  w.field("series", ctx.store.series());
  w.field("points", ctx.store.points());
  const tsdb::BlockStats blocks = ctx.store.block_stats();
  w.field("blocks", blocks.blocks);
  w.field("block_bytes", blocks.bytes);
  w.field("flushes", blocks.flushes);
  w.field("compactions", blocks.compactions);
  w.field("block_errors", blocks.errors);
  w.end_object();

  if (ctx.mqtt_health_json) {
    w.key("mqtt").raw(ctx.mqtt_health_json());
  } else {
    w.key("mqtt").begin_object();
    w.field("state", "disabled");
    w.field("message", "turned off (--mqtt off)");
    w.end_object();
  }

  DiskUsage du = disk_usage(ctx.data_dir);
  w.key("disk").begin_object();
  const char* disk_state = !du.ok                               ? "error"
                           : du.free_bytes < kDiskCriticalBytes ? "critical"
                           : du.free_bytes < kDiskLowBytes      ? "low"
                                                                : "ok";
  w.field("state", disk_state);
  w.field("path", ctx.data_dir);
  w.field("free_bytes", du.free_bytes);
  w.field("total_bytes", du.total_bytes);
  w.field("data_bytes", du.data_bytes);
  w.end_object();
  healthy = healthy && du.ok && du.free_bytes >= kDiskCriticalBytes;

  w.end_object();
  w.field("status", healthy ? "ok" : "degraded");
  w.end_object();
  respond(Response::json(healthy ? 200 : 503, w.take()));
}

}  // namespace

void add_health_routes(Router& r, ApiContext& ctx) {
  r.add(Method::kGet, "/health", Access::kPublic, [](RequestContext&, Responder respond) {
    respond(Response::json(200, R"({"status":"ok"})"));
  });
  r.add(Method::kGet, "/ready", Access::kPublic, [&ctx](RequestContext&, Responder respond) {
    if (ctx.ready.load()) return respond(Response::json(200, R"({"status":"ready"})"));
    respond(error_response(503, "not_ready", "storage is still being recovered"));
  });
  r.add(Method::kGet, "/api/v1/health/detailed", Access::kRead,
        [&ctx](RequestContext&, Responder respond) { detailed(ctx, respond); });
}

}  // namespace fp::http
