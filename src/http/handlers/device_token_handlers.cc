// Device tokens: POST /api/v1/devices/{id}/tokens (the secret is in this answer only),
// GET /api/v1/devices/{id}/tokens (never the secret), DELETE .../tokens/{token_id} (revoke).

#include "http/handlers/routes.h"
#include "ingest/json_input.h"
#include "model/time_format.h"
#include "util/json_writer.h"

namespace fp::http {
namespace {

void write_token(JsonWriter& w, const DeviceTokenRecord& t) {
  w.field("id", t.id)
      .field("device_id", t.device_id)
      .field("name", t.name)
      .field("created_at", format_rfc3339(t.created_at_ms))
      .field("revoked", t.revoked);
}

bool device_exists(ApiContext& ctx, const std::string& id) {
  return ctx.tracker.contains(id) || ctx.catalog.get_device(id).ok();
}

void create_token(ApiContext& ctx, RequestContext& rc, const Responder& respond) {
  const std::string& id = rc.params.get("id");
  if (!device_exists(ctx, id))
    return respond(error_response(404, "not_found", "no device '" + id + "'"));
  std::string name;
  if (!rc.request.body.empty()) {
    auto parsed = parse_json(rc.request.body);
    if (!parsed.ok()) return respond(error_response(parsed.status()));
    simdjson::dom::object obj;
    if (parsed->get_object().get(obj))
      return respond(error_response(Status::Unprocessable("the body must be a JSON object")));
    auto n = optional_string(obj, "name");
    if (!n.ok()) return respond(error_response(n.status()));
    name = n->value_or("");
    if (name.size() > 256)
      return respond(error_response(Status::Unprocessable("name is limited to 256 characters")));
  }
  auto created = ctx.device_tokens->create(id, name);
  if (!created.ok()) return respond(error_response(created.status()));
  JsonWriter w;
  w.begin_object();
  write_token(w, created->record);
  w.field("token", created->secret);
  w.end_object();
  respond(Response::json(201, w.take()));
}

void list_tokens(ApiContext& ctx, RequestContext& rc, const Responder& respond) {
  const std::string& id = rc.params.get("id");
  if (!device_exists(ctx, id))
    return respond(error_response(404, "not_found", "no device '" + id + "'"));
  auto tokens = ctx.device_tokens->list(id);
  if (!tokens.ok()) return respond(error_response(tokens.status()));
  JsonWriter w;
  w.begin_object().key("tokens").begin_array();
  for (const auto& t : *tokens) {
    w.begin_object();
    write_token(w, t);
    w.end_object();
  }
  w.end_array().end_object();
  respond(Response::json(200, w.take()));
}

void revoke_token(ApiContext& ctx, RequestContext& rc, const Responder& respond) {
  Status s = ctx.device_tokens->revoke(rc.params.get("id"), rc.params.get("token_id"));
  if (s.code() == StatusCode::kNotFound)
    return respond(error_response(404, "not_found", s.message()));
  if (!s.ok()) return respond(error_response(s));
  respond(Response::no_content());
}

}  // namespace

void add_device_token_routes(Router& r, ApiContext& ctx) {
  if (!ctx.device_tokens) return;
  r.add(Method::kPost, "/api/v1/devices/{id}/tokens", Access::kWrite,
        [&ctx](RequestContext& rc, Responder respond) { create_token(ctx, rc, respond); });
  r.add(Method::kGet, "/api/v1/devices/{id}/tokens", Access::kRead,
        [&ctx](RequestContext& rc, Responder respond) { list_tokens(ctx, rc, respond); });
  r.add(Method::kDelete, "/api/v1/devices/{id}/tokens/{token_id}", Access::kWrite,
        [&ctx](RequestContext& rc, Responder respond) { revoke_token(ctx, rc, respond); });
}

}  // namespace fp::http
