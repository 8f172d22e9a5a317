// Alerts: list with filters, recent, one alert, raise by hand, acknowledge, resolve.

#include <charconv>

#include "alerting/alert_engine.h"
#include "alerting/alert_json.h"
#include "http/handlers/query_params.h"
#include "http/handlers/routes.h"
#include "ingest/json_input.h"

namespace fp::http {
namespace {

std::optional<int64_t> parse_id(std::string_view s) {
  int64_t v;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

Result<AlertQuery> alert_query(const ApiContext& ctx, const Request& req, int default_limit) {
  AlertQuery q;
  if (auto s = req.param("state")) {
    q.state = parse_alert_state(*s);
    if (!q.state) return Status::InvalidArgument("state must be firing, acknowledged or resolved");
  }
  if (auto s = req.param("severity")) {
    q.severity = parse_severity(*s);
    if (!q.severity) return Status::InvalidArgument("severity must be info, warning or critical");
  }
  if (auto s = req.param("device_id")) q.device_id = std::string(*s);
  if (req.param("since")) {
    FP_ASSIGN_OR_RETURN(q.since_ms, time_param(req, "since", 0, ctx.clock.now_ms()));
  }
  if (auto c = req.param("cursor")) {
    q.before_id = parse_id(*c);
    if (!q.before_id) return Status::InvalidArgument("invalid cursor");
  }
  FP_ASSIGN_OR_RETURN(q.limit, limit_param(req, default_limit, 1000));
  return q;
}

void list_alerts(ApiContext& ctx, const Request& req, int default_limit, const Responder& respond) {
  auto q = alert_query(ctx, req, default_limit);
  if (!q.ok()) return respond(error_response(q.status()));
  auto page = ctx.catalog.list_alerts(*q);
  if (!page.ok()) return respond(error_response(page.status()));
  JsonWriter w;
  w.begin_object().key("alerts").begin_array();
  for (const Alert& a : page->alerts) write_alert(w, a);
  w.end_array().key("next_cursor");
  if (page->next_before)
    w.value(std::to_string(*page->next_before));
  else
    w.null();
  w.end_object();
  respond(Response::json(200, w.take()));
}

// The body of a manual alert: {"device_id","severity"?,"message"?,"value"?}.
Result<ManualAlert> decode_manual_alert(std::string_view body) {
  FP_ASSIGN_OR_RETURN(simdjson::dom::element root, parse_json(body));
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) return Status::Unprocessable("the body must be a JSON object");
  ManualAlert m;
  FP_ASSIGN_OR_RETURN(std::optional<std::string> device, optional_string(obj, "device_id"));
  if (!device) return Status::Unprocessable("device_id is required");
  if (std::string why = validate_device_id(*device); !why.empty())
    return Status::Unprocessable(why);
  m.device_id = std::move(*device);
  FP_ASSIGN_OR_RETURN(std::optional<std::string> severity, optional_string(obj, "severity"));
  if (severity) {
    auto s = parse_severity(*severity);
    if (!s) return Status::Unprocessable("severity must be info, warning or critical");
    m.severity = *s;
  }
  FP_ASSIGN_OR_RETURN(std::optional<std::string> message, optional_string(obj, "message"));
  m.message = message.value_or("raised by hand");
  if (m.message.size() > 2000) return Status::Unprocessable("message must be at most 2000 bytes");
  FP_ASSIGN_OR_RETURN(m.value, optional_number(obj, "value"));
  return m;
}

// {"by"?,"note"?}; an empty body is fine. `by` defaults to the caller's key id.
Result<std::pair<std::string, std::string>> decode_action(std::string_view body,
                                                          const std::string& principal) {
  std::pair<std::string, std::string> out{principal, ""};
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return out;
  FP_ASSIGN_OR_RETURN(simdjson::dom::element root, parse_json(body));
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) return Status::Unprocessable("the body must be a JSON object");
  FP_ASSIGN_OR_RETURN(std::optional<std::string> by, optional_string(obj, "by"));
  FP_ASSIGN_OR_RETURN(std::optional<std::string> note, optional_string(obj, "note"));
  if (by) out.first = std::move(*by);
  if (note) out.second = std::move(*note);
  if (out.first.size() > 200) return Status::Unprocessable("by must be at most 200 bytes");
  if (out.second.size() > 2000) return Status::Unprocessable("note must be at most 2000 bytes");
  return out;
}

using AlertAction = Result<Alert> (AlertEngine::*)(int64_t, const std::string&, const std::string&);

void alert_action(ApiContext& ctx, RequestContext& rc, AlertAction action,
                  const Responder& respond) {
  auto id = parse_id(rc.params.get("id"));
  if (!id)
    return respond(
        error_response(Status::NotFound("alert '" + rc.params.get("id") + "' not found")));
  auto args = decode_action(rc.request.body, rc.principal);
  if (!args.ok()) return respond(error_response(args.status()));
  auto a = (ctx.alerts->*action)(*id, args->first, args->second);
  if (!a.ok()) return respond(error_response(a.status()));
  if (ctx.alert_durable)
    if (Status s = ctx.alert_durable(*a); !s.ok()) return respond(error_response(s));
  respond(Response::json(200, alert_to_json(*a)));
}

}  // namespace

void add_alert_routes(Router& r, ApiContext& ctx) {
  r.add(Method::kGet, "/api/v1/alerts", Access::kRead,
        [&ctx](RequestContext& rc, Responder respond) {
          list_alerts(ctx, rc.request, 100, respond);
        });
  r.add(
      Method::kGet, "/api/v1/alerts/recent", Access::kRead,
      [&ctx](RequestContext& rc, Responder respond) { list_alerts(ctx, rc.request, 20, respond); });
  r.add(Method::kGet, "/api/v1/alerts/{id}", Access::kRead,
        [&ctx](RequestContext& rc, Responder respond) {
          auto id = parse_id(rc.params.get("id"));
          auto a =
              id ? ctx.catalog.get_alert(*id)
                 : Result<Alert>(Status::NotFound("alert '" + rc.params.get("id") + "' not found"));
          if (!a.ok()) return respond(error_response(a.status()));
          respond(Response::json(200, alert_to_json(*a)));
        });
  r.add(Method::kPost, "/api/v1/alerts", Access::kWrite,
        [&ctx](RequestContext& rc, Responder respond) {
          auto m = decode_manual_alert(rc.request.body);
          if (!m.ok()) return respond(error_response(m.status()));
          if (!ctx.tracker.contains(m->device_id))
            return respond(
                error_response(Status::NotFound("device '" + m->device_id + "' not found")));
          auto a = ctx.alerts->raise(*m);
          if (!a.ok()) return respond(error_response(a.status()));
          // Cluster mode: answered once the alert is in the cluster's alert bucket (a 503 then
          // means "not known to survive a failover"; the alert stays open on this node).
          if (ctx.alert_durable)
            if (Status s = ctx.alert_durable(*a); !s.ok()) return respond(error_response(s));
          respond(Response::json(201, alert_to_json(*a)));
        });
  r.add(Method::kPost, "/api/v1/alerts/{id}/acknowledge", Access::kWrite,
        [&ctx](RequestContext& rc, Responder respond) {
          alert_action(ctx, rc, &AlertEngine::acknowledge, respond);
        });
  r.add(Method::kPost, "/api/v1/alerts/{id}/resolve", Access::kWrite,
        [&ctx](RequestContext& rc, Responder respond) {
          alert_action(ctx, rc, &AlertEngine::resolve, respond);
        });
}

}  // namespace fp::http
