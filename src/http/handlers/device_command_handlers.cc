// Commands to devices: POST /api/v1/devices/{id}/commands stores the JSON body for the
// device's MQTT topic devices/{id}/commands (in the catalog, so it survives a restart) and
// sends it to the connections subscribed now. A device that is away gets it, in order, when it
// subscribes or resumes its persistent session; it stays queued until acknowledged (PUBACK) or
// expired. The answer says "delivered" (sent to a subscriber now) or "queued"; a full queue is
// 429. Present only when the MQTT endpoint runs.

#include "http/handlers/routes.h"
#include "ingest/json_input.h"
#include "model/time_format.h"
#include "util/json_writer.h"

namespace fp::http {
namespace {

void send_command(ApiContext& ctx, RequestContext& rc, const Responder& respond) {
  const std::string& id = rc.params.get("id");
  if (!ctx.tracker.contains(id) && !ctx.catalog.get_device(id).ok())
    return respond(error_response(404, "not_found", "no device '" + id + "'"));
  auto parsed = parse_json(rc.request.body);
  if (!parsed.ok()) return respond(error_response(parsed.status()));
  const ApiContext::CommandOutcome out = ctx.on_command(id, rc.request.body);
  if (out.status.code() == StatusCode::kOverloaded) {
    Response r = error_response(429, "command_queue_full", out.status.message());
    r.headers.emplace_back("Retry-After", "60");
    return respond(std::move(r));
  }
  if (!out.status.ok()) return respond(error_response(out.status));
  JsonWriter w;
  w.begin_object()
      .field("device_id", id)
      .field("topic", "devices/" + id + "/commands")
      .field("command_id", out.command_id)
      .field("status", out.delivered_to > 0 ? "delivered" : "queued")
      .field("delivered_to", static_cast<uint64_t>(out.delivered_to))
      .field("expires_at", format_rfc3339(out.expires_at_ms))
      .end_object();
  respond(Response::json(202, w.take()));
}

}  // namespace

void add_device_command_routes(Router& r, ApiContext& ctx) {
  r.add(Method::kPost, "/api/v1/devices/{id}/commands", Access::kWrite,
        [&ctx](RequestContext& rc, Responder respond) {
          if (!ctx.on_command)
            return respond(error_response(503, "unavailable", "the MQTT endpoint is off"));
          send_command(ctx, rc, respond);
        });
}

}  // namespace fp::http
