// Heartbeats: POST /api/v1/heartbeat and POST /api/v1/devices/{id}/heartbeat. The answer is
// sent by the Ingestor's commit thread once the heartbeat is durable. A heartbeat of an
// unknown device beyond the auto-registration rate gets 429 with Retry-After.

#include "http/handlers/routes.h"
#include "kpi/device_activity_log.h"
#include "model/time_format.h"
#include "util/json_writer.h"

namespace fp::http {
namespace {

void heartbeat(ApiContext& ctx, RequestContext& rc, Responder respond) {
  const int64_t now = ctx.clock.now_ms();
  std::string path_id = rc.params.get("id");
  if (!rc.device_id.empty()) {  // a device token: only its own heartbeats
    if (!path_id.empty() && path_id != rc.device_id) {
      ctx.metrics.ingest_rejected.with({"forbidden_device"}).inc();
      return respond(
          error_response(403, "forbidden", "a device token may only send its own heartbeats"));
    }
    path_id = rc.device_id;
  }
  auto report = decode_heartbeat(rc.request.body, path_id, now);
  if (!report.ok()) {
    ctx.metrics.ingest_rejected.with({"invalid_heartbeat"}).inc();
    if (ctx.activity && !rc.params.get("id").empty())
      ctx.activity->record_rejected(rc.params.get("id"), now);
    return respond(error_response(report.status()));
  }
  int64_t retry_after_s = 1;
  if (Status st = ctx.ingestor.admit_new_devices({&report->device_id, 1}, now, &retry_after_s);
      !st.ok()) {
    ctx.metrics.ingest_rejected.with({std::string(limit_label(LimitKind::kRegistrationRate))})
        .inc();
    Response r = error_response(429, "rate_limited", st.message());
    for (auto& [name, value] : r.headers)
      if (name == "Retry-After") value = std::to_string(retry_after_s);
    return respond(std::move(r));
  }
  report->wire_bytes = static_cast<uint32_t>(rc.request.body.size());
  std::string id = report->device_id;
  ctx.writes.submit_heartbeat(
      std::move(*report), [&ctx, id, respond = std::move(respond)](HeartbeatAck ack) {
        if (!ack.status.ok()) {
          ctx.metrics.ingest_rejected
              .with({ack.status.code() == StatusCode::kNotFound     ? "unknown_device"
                     : ack.status.code() == StatusCode::kOverloaded ? "overloaded"
                                                                    : "storage_error"})
              .inc();
          return respond(error_response(ack.status));
        }
        ctx.metrics.heartbeats.get().inc();
        ctx.ingest_rate.record(ctx.clock.now_ms());
        JsonWriter w;
        w.begin_object()
            .field("device_id", id)
            .field("status", to_string(ack.device_status))
            .field("last_seen", format_rfc3339(ack.last_seen_ms))
            .end_object();
        respond(Response::json(200, w.take()));
      });
}

}  // namespace

void add_heartbeat_routes(Router& r, ApiContext& ctx) {
  r.add(Method::kPost, "/api/v1/heartbeat", Access::kDevice,
        [&ctx](RequestContext& rc, Responder respond) { heartbeat(ctx, rc, std::move(respond)); });
  r.add(Method::kPost, "/api/v1/devices/{id}/heartbeat", Access::kDevice,
        [&ctx](RequestContext& rc, Responder respond) { heartbeat(ctx, rc, std::move(respond)); });
}

}  // namespace fp::http
