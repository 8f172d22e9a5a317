// Health: /health (liveness), /ready (storage recovered and open),
// /api/v1/health/detailed (each component with its state), and
// POST /api/v1/admin/storage/acknowledge-damage (an operator saw the storage damage report).

#include <mutex>

#include "http/disk_work_queue.h"
#include "http/handlers/data_dir_usage.h"
#include "http/handlers/routes.h"
#include "kpi/device_activity_log.h"
#include "storage/catalog/write_queue.h"
#include "util/json_writer.h"

namespace fp::http {
namespace {

// Whether the ingestor's group commits are failing now: a failure seen since the last commit
// that succeeded. Recovers by itself (e.g. once a full disk has room again) at the next good
// commit, instead of staying degraded until a restart.
bool commits_failing(const IngestorStats& st) {
  static std::mutex mu;
  static uint64_t seen_errors = 0, commits_at_error = 0;
  std::lock_guard lock(mu);
  if (st.commit_errors != seen_errors) {
    seen_errors = st.commit_errors;
    commits_at_error = st.commits;
  }
  return st.commit_errors > 0 && st.commits == commits_at_error;
}

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
  tsdb::StorageHealth sh = ctx.store.health();
  if (commits_failing(st) && sh.reason.find("commit failed") == std::string::npos) {
    sh.degraded = true;
    sh.reason = "the last commit failed" + (sh.reason.empty() ? "" : "; " + sh.reason);
  }
  w.key("storage").begin_object();
  w.field("state", sh.degraded ? "degraded" : "ok");
  if (sh.degraded) w.field("reason", sh.reason);
  w.field("commits", st.commits);
  w.field("commit_errors", st.commit_errors);
  w.field("pending", st.pending);
  w.field("damage_unacknowledged", static_cast<uint64_t>(sh.damage_unacknowledged));
  w.field("quarantined_files", static_cast<uint64_t>(sh.quarantined_files));
  w.field("wal_records_skipped", sh.wal_records_skipped);
  w.key("damage").begin_array();
  for (const auto& n : sh.damage)
    w.begin_object()
        .field("file", "quarantine/" + n.name)
        .field("what", n.what)
        .field("acknowledged", n.acknowledged)
        .end_object();
  w.end_array();
  w.end_object();
  healthy = healthy && !sh.degraded;

  if (ctx.activity) {  // the KPI activity journal: damage found at start, until acknowledged
    const ActivityJournalStats js = ctx.activity->journal_damage();  // never waits on a sync
    w.key("kpi_journal").begin_object();
    w.field("state", js.damage_unacknowledged ? "degraded" : "ok");
    if (js.damage_unacknowledged)
      w.field("reason", std::to_string(js.damaged_bytes) + " damaged bytes skipped in " +
                            std::to_string(js.damaged_stretches) +
                            " place(s) at start, KPI counts there lost; " + js.quarantined +
                            "; acknowledge with POST /api/v1/admin/storage/acknowledge-damage");
    w.field("replayed", js.replayed);
    w.field("damaged_bytes", js.damaged_bytes);
    w.field("torn_tail_bytes", js.dropped_bytes);
    w.end_object();
    healthy = healthy && !js.damage_unacknowledged;
  }

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
  w.field("block_errors", blocks.errors + blocks.damaged + blocks.read_errors);
  w.field("quarantined", static_cast<uint64_t>(sh.quarantined_files));
  w.end_object();

  if (ctx.mqtt_health_json) {
    w.key("mqtt").raw(ctx.mqtt_health_json());
  } else {
    w.key("mqtt").begin_object();
    w.field("state", "disabled");
    w.field("message", "turned off (--mqtt off)");
    w.end_object();
  }

  if (ctx.cluster_health_json) w.key("nats").raw(ctx.cluster_health_json());  // cluster mode

  DiskUsage du = disk_usage(ctx.data_dir);
  w.key("disk").begin_object();
  // Read afresh on every call, so the state recovers as soon as there is room again.
  const uint64_t critical = ctx.disk_threshold.critical_below(du.total_bytes);
  const char* disk_state = !du.ok                         ? "error"
                           : du.free_bytes < critical     ? "critical"
                           : du.free_bytes < 2 * critical ? "low"
                                                          : "ok";
  w.field("state", disk_state);
  w.field("critical_below_bytes", critical);
  w.field("path", ctx.data_dir);
  w.field("free_bytes", du.free_bytes);
  w.field("total_bytes", du.total_bytes);
  w.field("data_bytes", du.data_bytes);
  w.end_object();
  healthy = healthy && du.ok && du.free_bytes >= critical;

  // Writes waiting for the disk (from memory: answers at once however slow the disk is).
  w.key("disk_queue").begin_object();
  const DiskWorkQueue::Stats dq =
      ctx.disk_work != nullptr ? ctx.disk_work->stats() : DiskWorkQueue::Stats{};
  w.field("state", dq.shedding ? "degraded" : "ok");
  if (dq.shedding) w.field("reason", dq.reason);
  w.field("requests_in_flight", static_cast<uint64_t>(dq.in_flight));
  w.field("oldest_request_ms", dq.oldest_ms);
  w.field("shed", dq.shed);
  w.field("timed_out", dq.timed_out);
  if (CatalogWriteQueue* q = ctx.catalog.write_queue()) {
    const CatalogWriteQueue::Stats cs = q->stats();
    w.field("catalog_writes_queued", static_cast<uint64_t>(cs.depth + cs.in_commit));
    w.field("catalog_oldest_write_ms", cs.oldest_age_ms);
    w.field("catalog_groups", cs.groups);
    w.field("catalog_writes", cs.writes);
    w.field("catalog_last_commit_ms", cs.last_commit_ms);
  }
  w.end_object();
  healthy = healthy && !dq.shedding;

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
  r.add(Method::kPost, "/api/v1/admin/storage/acknowledge-damage", Access::kAdmin,
        [&ctx](RequestContext&, Responder respond) {
          auto n = ctx.store.acknowledge_damage();
          if (n.ok() && ctx.activity) *n += ctx.activity->acknowledge_damage();
          if (!n.ok())
            return respond(error_response(500, "internal",
                                          "the acknowledgement could not be "
                                          "saved; retry"));
          JsonWriter w;
          w.begin_object().field("acknowledged", static_cast<uint64_t>(*n)).end_object();
          respond(Response::json(200, w.take()));
        });
}

}  // namespace fp::http
