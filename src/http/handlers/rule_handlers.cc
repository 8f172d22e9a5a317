// Alert rules: /api/v1/rules (list, create) and /api/v1/rules/{id} (get, replace, delete).

#include "alerting/alert_engine.h"
#include "http/handlers/routes.h"
#include "util/json_writer.h"

namespace fp::http {
namespace {

// 400 for a body that is not JSON; 422 naming every bad field in "details".
Response rule_error(const Status& s, const std::vector<FieldError>& errors) {
  if (s.code() != StatusCode::kUnprocessable || errors.empty()) return error_response(s);
  JsonWriter d;
  d.begin_array();
  for (const auto& e : errors)
    d.begin_object().field("field", e.field).field("message", e.message).end_object();
  d.end_array();
  return error_response(422, "validation_failed", s.message(), d.str());
}

void create_rule(ApiContext& ctx, RequestContext& rc, const Responder& respond) {
  std::vector<FieldError> errors;
  auto rule = parse_rule(rc.request.body, "", &errors);
  if (!rule.ok()) return respond(rule_error(rule.status(), errors));
  auto created = ctx.alerts->create_rule(std::move(*rule));
  if (!created.ok()) return respond(error_response(created.status()));
  respond(Response::json(201, rule_to_json(*created)));
}

void replace_rule(ApiContext& ctx, RequestContext& rc, const Responder& respond) {
  std::vector<FieldError> errors;
  auto rule = parse_rule(rc.request.body, rc.params.get("id"), &errors);
  if (!rule.ok()) return respond(rule_error(rule.status(), errors));
  auto replaced = ctx.alerts->replace_rule(std::move(*rule));
  if (!replaced.ok()) return respond(error_response(replaced.status()));
  respond(Response::json(200, rule_to_json(*replaced)));
}

}  // namespace

void add_rule_routes(Router& r, ApiContext& ctx) {
  r.add(Method::kGet, "/api/v1/rules", Access::kRead, [&ctx](RequestContext&, Responder respond) {
    std::string body = R"({"rules":[)";
    bool first = true;
    for (const Rule& rule : ctx.alerts->rules()) {
      if (!first) body += ',';
      first = false;
      body += rule_to_json(rule);
    }
    body += "]}";
    respond(Response::json(200, std::move(body)));
  });
  r.add(Method::kPost, "/api/v1/rules", Access::kWrite,
        [&ctx](RequestContext& rc, Responder respond) { create_rule(ctx, rc, respond); });
  r.add(Method::kGet, "/api/v1/rules/{id}", Access::kRead,
        [&ctx](RequestContext& rc, Responder respond) {
          auto rule = ctx.alerts->rule(rc.params.get("id"));
          if (!rule.ok()) return respond(error_response(rule.status()));
          respond(Response::json(200, rule_to_json(*rule)));
        });
  r.add(Method::kPut, "/api/v1/rules/{id}", Access::kWrite,
        [&ctx](RequestContext& rc, Responder respond) { replace_rule(ctx, rc, respond); });
  r.add(Method::kDelete, "/api/v1/rules/{id}", Access::kWrite,
        [&ctx](RequestContext& rc, Responder respond) {
          Status s = ctx.alerts->delete_rule(rc.params.get("id"));
          if (!s.ok()) return respond(error_response(s));
          respond(Response::no_content());
        });
}

}  // namespace fp::http
