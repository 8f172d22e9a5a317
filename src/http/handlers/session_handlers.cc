// Dashboard sessions: POST /api/v1/session (log in with an API key: sets the HttpOnly,
// SameSite=Strict session cookie, returns the CSRF token), GET /api/v1/session (the current
// session and its CSRF token, for a reloaded page), DELETE /api/v1/session (log out). The
// routes are public to the dispatcher: each checks its own credential (see
// auth/session_store.h and api_dispatcher.h).

#include "auth/auth_throttle.h"
#include "auth/session_store.h"
#include "http/api_dispatcher.h"
#include "http/handlers/routes.h"
#include "ingest/json_input.h"
#include "model/time_format.h"
#include "util/json_writer.h"

namespace fp::http {
namespace {

std::string session_json(const WebSession& s) {
  JsonWriter w;
  w.begin_object()
      .field("key_id", s.key_id)
      .field("name", s.name)
      .field("role", std::string(to_string(s.role)))
      .field("csrf_token", s.csrf_token)
      .field("expires_at", format_rfc3339(s.expires_at_ms))
      .end_object();
  return w.str();
}

Response auth_off() {
  return error_response(409, "auth_off",
                        "authentication is off on this server: no session is needed");
}

void login(ApiContext& ctx, RequestContext& rc, const Responder& respond) {
  const Request& req = rc.request;
  if (!ctx.auth_enabled || !ctx.sessions) return respond(auth_off());
  if (!same_origin(req))
    return respond(
        error_response(403, "csrf_origin_mismatch", "log in from this server's own origin"));
  // The key: Authorization (Bearer / Token / Basic), else {"api_key": "..."} in the body.
  std::string authorization = normalized_authorization(req, false);
  if (req.authorization.empty()) authorization.clear();  // never ?api_key= here
  if (authorization.empty() && !req.body.empty()) {
    auto parsed = parse_json(req.body);
    if (!parsed.ok()) return respond(error_response(parsed.status()));
    simdjson::dom::object obj;
    if (parsed->get_object().get(obj))
      return respond(error_response(Status::Unprocessable("the body must be a JSON object")));
    auto key = optional_string(obj, "api_key");
    if (!key.ok()) return respond(error_response(key.status()));
    if (*key) authorization = "Bearer " + **key;
  }
  if (authorization.empty())
    return respond(error_response(
        400, "bad_request",
        "an API key is required: Authorization: Bearer <key> or {\"api_key\":\"...\"}"));
  AuthThrottle* throttle = ctx.keys.throttle();
  if (throttle && throttle->saturated(req.remote_address, "http")) {
    Response r = error_response(429, "too_many_failed_authentications",
                                "too many failed authentications from this address are "
                                "waiting for their answer; retry later");
    r.headers.emplace_back("Retry-After", "10");
    return respond(std::move(r));
  }
  auto who = ctx.keys.authenticate(authorization);
  if (!who) {
    Response r = error_response(401, "unauthorized", "the API key is not valid");
    if (throttle) {
      const auto wait = throttle->failed(req.remote_address, "http");
      if (wait.count() > 0) {
        throttle->run_after(
            wait, [throttle, address = req.remote_address, respond, r = std::move(r)]() mutable {
              throttle->answered(address);
              respond(std::move(r));
            });
        return;
      }
    }
    return respond(std::move(r));
  }
  auto created = ctx.sessions->create(*who);
  Response r = Response::json(201, session_json(created.session));
  r.headers.emplace_back(
      "Set-Cookie", session_cookie(created.token, ctx.sessions->lifetime_ms() / 1000, req.tls));
  r.headers.emplace_back("Cache-Control", "no-store");
  respond(std::move(r));
}

void current(ApiContext& ctx, RequestContext& rc, const Responder& respond) {
  // Auth off: nothing to log in to and no CSRF token to send (the dashboard asks anyway).
  if (!ctx.auth_enabled || !ctx.sessions) return respond(Response::json(200, R"({"auth":false})"));
  const std::string_view token = cookie_value(rc.request.cookie, kSessionCookie);
  auto session = token.empty() ? std::nullopt : ctx.sessions->use(token);
  if (!session) {
    Response r =
        error_response(401, "unauthorized", "no session: log in with POST /api/v1/session");
    if (!token.empty()) r.headers.emplace_back("Set-Cookie", session_cookie("", 0, rc.request.tls));
    return respond(std::move(r));
  }
  Response r = Response::json(200, session_json(*session));
  r.headers.emplace_back("Cache-Control", "no-store");
  respond(std::move(r));
}

void logout(ApiContext& ctx, RequestContext& rc, const Responder& respond) {
  const Request& req = rc.request;
  const std::string_view token = cookie_value(req.cookie, kSessionCookie);
  if (ctx.sessions && !token.empty()) {
    if (auto session = ctx.sessions->use(token)) {
      if (!same_origin(req))
        return respond(
            error_response(403, "csrf_origin_mismatch", "log out from this server's own origin"));
      if (!secrets_equal(req.csrf_token, session->csrf_token))
        return respond(error_response(403, "csrf_token_invalid",
                                      "logging out needs the session's X-CSRF-Token header"));
      ctx.sessions->end(token);
    }
  }
  Response r = Response::no_content();
  r.headers.emplace_back("Set-Cookie", session_cookie("", 0, req.tls));
  respond(std::move(r));
}

}  // namespace

void add_session_routes(Router& r, ApiContext& ctx) {
  r.add(Method::kPost, "/api/v1/session", Access::kPublic,
        [&ctx](RequestContext& rc, const Responder& respond) { login(ctx, rc, respond); });
  r.add(Method::kGet, "/api/v1/session", Access::kPublic,
        [&ctx](RequestContext& rc, const Responder& respond) { current(ctx, rc, respond); });
  r.add(Method::kDelete, "/api/v1/session", Access::kPublic,
        [&ctx](RequestContext& rc, const Responder& respond) { logout(ctx, rc, respond); });
}

}  // namespace fp::http
