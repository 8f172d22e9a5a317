// Administration (admin role): API keys and wiping all data.

#include "alerting/alert_engine.h"
#include "http/handlers/query_params.h"
#include "http/handlers/routes.h"
#include "ingest/json_input.h"
#include "kpi/device_activity_log.h"
#include "model/time_format.h"
#include "util/json_writer.h"

namespace fp::http {
namespace {

void write_key(JsonWriter& w, const ApiKeyRecord& k, const std::string* secret) {
  w.begin_object().field("id", k.id).field("name", k.name).field("role", to_string(k.role));
  if (secret) w.field("key", *secret);
  w.field("created_at", format_rfc3339(k.created_at_ms)).field("revoked", k.revoked).end_object();
}

void create_key(ApiContext& ctx, RequestContext& rc, const Responder& respond) {
  auto parsed = parse_json(rc.request.body);
  if (!parsed.ok()) return respond(error_response(parsed.status()));
  simdjson::dom::object obj;
  if (parsed->get_object().get(obj))
    return respond(error_response(Status::Unprocessable("the body must be a JSON object")));
  auto name = optional_string(obj, "name");
  if (!name.ok()) return respond(error_response(name.status()));
  auto role_text = optional_string(obj, "role");
  if (!role_text.ok()) return respond(error_response(role_text.status()));
  if (!*name || (*name)->empty() || (*name)->size() > 128)
    return respond(error_response(Status::Unprocessable("name is required (1..128 characters)")));
  if (!*role_text)
    return respond(error_response(Status::Unprocessable("role is required: read, write or admin")));
  auto role = parse_api_role(**role_text);
  if (!role)
    return respond(error_response(Status::Unprocessable("role must be read, write or admin")));
  auto created = ctx.keys.create(**name, *role);
  if (!created.ok()) return respond(error_response(created.status()));
  JsonWriter w;
  write_key(w, created->record, &created->secret);
  respond(Response::json(201, w.take()));
}

// PATCH /api/v1/admin/api-keys/{id} {"role": ...}: the key keeps its secret; what was opened
// with it (SSE streams, MQTT sessions) is closed, so it reconnects under the new role.
void change_key_role(ApiContext& ctx, RequestContext& rc, const Responder& respond) {
  auto parsed = parse_json(rc.request.body);
  if (!parsed.ok()) return respond(error_response(parsed.status()));
  simdjson::dom::object obj;
  if (parsed->get_object().get(obj))
    return respond(error_response(Status::Unprocessable("the body must be a JSON object")));
  auto role_text = optional_string(obj, "role");
  if (!role_text.ok()) return respond(error_response(role_text.status()));
  if (!*role_text)
    return respond(error_response(Status::Unprocessable("role is required: read, write or admin")));
  auto role = parse_api_role(**role_text);
  if (!role)
    return respond(error_response(Status::Unprocessable("role must be read, write or admin")));
  auto updated = ctx.keys.set_role(rc.params.get("id"), *role);
  if (!updated.ok()) {
    if (updated.status().code() == StatusCode::kNotFound)
      return respond(error_response(404, "not_found", updated.status().message()));
    return respond(error_response(updated.status()));
  }
  JsonWriter w;
  write_key(w, *updated, nullptr);
  respond(Response::json(200, w.take()));
}

}  // namespace

void add_admin_routes(Router& r, ApiContext& ctx) {
  // Seals what is in memory into block files now (benchmarks measure disk after it).
  r.add(Method::kPost, "/api/v1/admin/flush", Access::kAdmin,
        [&ctx](RequestContext&, Responder respond) {
          ctx.ingestor.submit_flush([&ctx, respond = std::move(respond)](Status s) {
            if (!s.ok()) return respond(error_response(s));
            const tsdb::BlockStats b = ctx.store.block_stats();
            JsonWriter w;
            w.begin_object().field("flushed", true).field("blocks", b.blocks);
            w.field("block_bytes", b.bytes).end_object();
            respond(Response::json(200, w.take()));
          });
        });
  r.add(Method::kPost, "/api/v1/admin/api-keys", Access::kAdmin,
        [&ctx](RequestContext& rc, Responder respond) { create_key(ctx, rc, respond); });
  r.add(Method::kGet, "/api/v1/admin/api-keys", Access::kAdmin,
        [&ctx](RequestContext& rc, Responder respond) {
          auto keys = ctx.keys.list();
          if (!keys.ok()) return respond(error_response(keys.status()));
          auto include_revoked = bool_param(rc.request, "include_revoked", false);
          if (!include_revoked.ok()) return respond(error_response(include_revoked.status()));
          JsonWriter w;
          w.begin_object().key("keys").begin_array();
          for (const auto& k : *keys)
            if (!k.revoked || *include_revoked) write_key(w, k, nullptr);
          w.end_array().end_object();
          respond(Response::json(200, w.take()));
        });
  r.add(Method::kPatch, "/api/v1/admin/api-keys/{id}", Access::kAdmin,
        [&ctx](RequestContext& rc, Responder respond) { change_key_role(ctx, rc, respond); });
  r.add(Method::kDelete, "/api/v1/admin/api-keys/{id}", Access::kAdmin,
        [&ctx](RequestContext& rc, Responder respond) {
          Status s = ctx.keys.revoke(rc.params.get("id"));
          if (!s.ok()) return respond(error_response(s));
          respond(Response::no_content());
        });
  r.add(Method::kPost, "/api/v1/admin/delete-all", Access::kAdmin,
        [&ctx](RequestContext& rc, Responder respond) {
          if (rc.request.param("confirm").value_or("") != "yes")
            return respond(error_response(400, "confirmation_required",
                                          "add ?confirm=yes to delete every device and all data"));
          Status s = ctx.catalog.delete_all_data();
          if (!s.ok()) return respond(error_response(s));
          ctx.tracker.clear();
          if (ctx.alerts) ctx.alerts->forget_alerts();
          if (ctx.activity) ctx.activity->clear();
          ctx.ingestor.submit_removal(
              std::nullopt, true, [respond = std::move(respond)](Status st) {
                respond(st.ok() ? Response::json(200, R"({"deleted":true})") : error_response(st));
              });
        });
}

}  // namespace fp::http
