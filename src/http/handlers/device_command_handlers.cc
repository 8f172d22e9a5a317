// Commands to devices: POST /api/v1/devices/{id}/commands publishes the JSON body on the
// device's MQTT topic devices/{id}/commands to the connections subscribed to it now (not
// queued for devices that are away). Present only when the MQTT endpoint runs.

#include "http/handlers/routes.h"
#include "ingest/json_input.h"
#include "util/json_writer.h"

namespace fp::http {
namespace {

void send_command(ApiContext& ctx, RequestContext& rc, const Responder& respond) {
  const std::string& id = rc.params.get("id");
  if (!ctx.tracker.contains(id) && !ctx.catalog.get_device(id).ok())
    return respond(error_response(404, "not_found", "no device '" + id + "'"));
  auto parsed = parse_json(rc.request.body);
  if (!parsed.ok()) return respond(error_response(parsed.status()));
  const size_t delivered = ctx.on_command(id, rc.request.body);
  JsonWriter w;
  w.begin_object()
      .field("device_id", id)
      .field("topic", "devices/" + id + "/commands")
      .field("delivered_to", static_cast<uint64_t>(delivered))
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
