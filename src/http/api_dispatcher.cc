#include "http/api_dispatcher.h"

#include <spdlog/spdlog.h>

#include <memory>

namespace fp::http {
namespace {

std::optional<ApiRole> required_role(Access a, Method m) {
  switch (a) {
    case Access::kPublic:
      return std::nullopt;
    case Access::kRead:
      return ApiRole::kRead;
    case Access::kWrite:
    case Access::kDevice:
      return ApiRole::kWrite;
    case Access::kAdmin:
      return ApiRole::kAdmin;
  }
  return m == Method::kGet ? ApiRole::kRead : ApiRole::kWrite;
}

}  // namespace

void ApiDispatcher::dispatch(Request&& request, Responder respond) {
  auto req = std::make_shared<Request>(std::move(request));
  auto match = router_.match(req->method, req->path);
  const std::string route = match.route ? match.route->pattern : "unmatched";
  const std::string method(to_string(req->method));

  // Every answer passes here: count it and time it. Holding `req` keeps the request alive
  // for handlers that answer later from another thread.
  Responder done = [this, req, route, method, respond = std::move(respond)](Response res) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - req->received_at).count();
    ctx_.metrics.http_duration.with({method, route}).observe(seconds);
    ctx_.metrics.http_requests.with({method, route, std::to_string(res.status)}).inc();
    respond(std::move(res));
  };

  // With auth on, only public routes answer without a valid key, unknown paths included.
  const bool is_public = match.route && match.route->access == Access::kPublic;
  std::optional<Principal> who;
  std::optional<std::string> device;  // a device token, accepted on Access::kDevice routes only
  if (ctx_.auth_enabled && !is_public) {
    // Browsers' EventSource cannot set headers: the key may come as ?api_key= instead.
    std::string authorization = req->authorization;
    if (auto key = req->param("api_key"); authorization.empty() && key)
      authorization = "Bearer " + std::string(*key);
    who = ctx_.keys.authenticate(authorization);
    if (!who && match.route && match.route->access == Access::kDevice && ctx_.device_tokens)
      device = ctx_.device_tokens->device_for(bearer_token(authorization));
    if (!who && !device) {
      Response r = error_response(401, "unauthorized",
                                  authorization.empty()
                                      ? "an API key is required: Authorization: Bearer <key>"
                                      : "the API key is not valid");
      r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"fleetpulse\"");
      return done(std::move(r));
    }
  }
  if (!match.route) {
    if (match.status == 405) {
      Response r =
          error_response(405, "method_not_allowed", method + " is not allowed on " + req->path);
      r.headers.emplace_back("Allow", match.allowed);
      return done(std::move(r));
    }
    return done(error_response(404, "not_found", "no such endpoint: " + req->path));
  }
  RequestContext rc{*req, std::move(match.params), "anonymous"};
  if (who) {
    auto need = required_role(match.route->access, req->method);
    if (need && !role_allows(who->role, *need))
      return done(error_response(403, "forbidden",
                                 "this needs the " + std::string(to_string(*need)) +
                                     " role; the key has " + std::string(to_string(who->role))));
    rc.principal = who->key_id;
  }
  if (device) {
    rc.principal = "device:" + *device;
    rc.device_id = *device;
  }
  try {
    match.route->handler(rc, done);
  } catch (const std::exception& e) {
    spdlog::error("event=handler_exception route={} error=\"{}\"", route, e.what());
    done(error_response(500, "internal", "internal error"));
  }
}

}  // namespace fp::http
