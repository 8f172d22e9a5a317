#include "http/api_dispatcher.h"

#include <spdlog/spdlog.h>

#include <memory>

#include "auth/auth_throttle.h"
#include "auth/session_store.h"
#include "http/content_encoding.h"
#include "http/disk_work_queue.h"

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

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  return true;
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

// Standard or URL-safe base64, padding optional. Empty on bad input.
std::string base64_decode(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    const int v = base64_value(c);
    if (v < 0) return {};
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

// The routes a browser opens without being able to set a header: the live stream
// (EventSource) and streamed export downloads (a plain link). Read-only.
bool query_key_allowed(const Request& req) {
  return (req.method == Method::kGet || req.method == Method::kHead) &&
         (req.path == "/api/v1/stream" || req.path == "/api/v1/export");
}

bool state_changing(Method m) {
  return m != Method::kGet && m != Method::kHead && m != Method::kOptions;
}

Response unauthorized(ErrorStyle style, std::string_view message) {
  Response r = styled_error(style, 401, "unauthorized", message);
  r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"fleetpulse\"");
  return r;
}

void add_cors_headers(Response& r, const std::string& origin) {
  r.headers.emplace_back("Access-Control-Allow-Origin", origin);
  r.headers.emplace_back("Vary", "Origin");
}

}  // namespace

std::string_view cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const size_t semi = header.find(';');
    std::string_view pair = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
  }
  return {};
}

bool same_origin(const Request& req) {
  if (req.origin.empty()) return true;  // not a browser, or a browser that sends none
  std::string_view o = req.origin;
  const size_t scheme = o.find("://");
  if (scheme == std::string_view::npos) return false;  // "null" (sandboxed, file:) and junk
  const std::string_view origin_scheme = o.substr(0, scheme);
  if (origin_scheme != (req.tls ? "https" : "http")) return false;
  std::string_view host = o.substr(scheme + 3);
  std::string_view want = req.host;
  // A default port may be written or left out on either side.
  const std::string_view default_port = req.tls ? ":443" : ":80";
  auto strip = [&](std::string_view h) {
    if (h.size() > default_port.size() && h.substr(h.size() - default_port.size()) == default_port)
      h.remove_suffix(default_port.size());
    return h;
  };
  host = strip(host);
  want = strip(want);
  if (host.size() != want.size()) return false;
  for (size_t i = 0; i < host.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(host[i])) !=
        std::tolower(static_cast<unsigned char>(want[i])))
      return false;
  return true;
}

std::string session_cookie(std::string_view token, int64_t max_age_s, bool secure) {
  std::string c = std::string(kSessionCookie) + "=" + std::string(token) +
                  "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" + std::to_string(max_age_s);
  if (secure) c += "; Secure";
  return c;
}

std::string normalized_authorization(const Request& req, bool influx_v1) {
  std::string_view a = req.authorization;
  while (!a.empty() && a.front() == ' ') a.remove_prefix(1);
  if (starts_with_ci(a, "Token ")) return "Bearer " + std::string(a.substr(6));
  if (starts_with_ci(a, "Basic ")) {
    const std::string plain = base64_decode(a.substr(6));
    const size_t colon = plain.find(':');
    if (colon == std::string::npos) return "Bearer ";  // present but unusable: 401
    return "Bearer " + plain.substr(colon + 1);
  }
  if (!a.empty()) return std::string(a);
  // Browsers' EventSource cannot set headers: the key may come as ?api_key= instead.
  if (auto key = req.param("api_key")) return "Bearer " + std::string(*key);
  if (influx_v1)
    if (auto p = req.param("p")) return "Bearer " + std::string(*p);
  return {};
}

bool ApiDispatcher::origin_allowed(const std::string& origin) const {
  if (origin.empty()) return false;
  for (const auto& o : options_.cors_origins)
    if (o == "*" || o == origin) return true;
  return false;
}

void ApiDispatcher::dispatch(Request&& request, Responder respond) {
  auto req = std::make_shared<Request>(std::move(request));
  const bool cors = origin_allowed(req->origin);
  const bool preflight =
      cors && req->method == Method::kOptions && !req->access_control_request_method.empty();
  auto match = router_.match(req->method, req->path);
  const std::string route = preflight     ? "preflight"
                            : match.route ? match.route->pattern
                                          : "unmatched";
  const std::string method(to_string(req->method));
  const ErrorStyle style = match.route ? match.route->errors : ErrorStyle::kApi;

  // Every answer passes here: count it and time it. Holding `req` keeps the request alive
  // for handlers that answer later from another thread.
  Responder done = [this, req, route, method, cors, respond = std::move(respond)](Response res) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - req->received_at).count();
    ctx_.metrics.http_duration.with({method, route}).observe(seconds);
    ctx_.metrics.http_requests.with({method, route, std::to_string(res.status)}).inc();
    if (cors) add_cors_headers(res, req->origin);
    respond(std::move(res));
  };

  // A CORS preflight carries no credentials: answered before authentication, for any path
  // (the real request is checked as usual).
  if (preflight) {
    Response r = Response::no_content();
    r.headers.emplace_back("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE");
    r.headers.emplace_back("Access-Control-Allow-Headers",
                           req->access_control_request_headers.empty()
                               ? "Authorization, Content-Type, Content-Encoding"
                               : req->access_control_request_headers);
    r.headers.emplace_back("Access-Control-Max-Age", "600");
    return done(std::move(r));
  }

  // With auth on, only public routes answer without a valid key, unknown paths included.
  const bool is_public = match.route && match.route->access == Access::kPublic;
  std::optional<Principal> who;
  std::optional<std::string> device;  // a device token, accepted on Access::kDevice routes only
  if (ctx_.auth_enabled && !is_public) {
    const std::string authorization =
        normalized_authorization(*req, style == ErrorStyle::kInfluxV1);
    // A key in the query string ends up in proxy logs and browser history: it is taken only
    // where a browser cannot send a header (the SSE stream, download links) and only to read.
    const bool key_from_query = req->authorization.empty() && req->param("api_key").has_value();
    if (key_from_query && !query_key_allowed(*req))
      return done(unauthorized(style,
                               "an API key in the query string is accepted only by GET "
                               "/api/v1/stream and GET /api/v1/export; send Authorization: "
                               "Bearer <key>"));
    // The dashboard's session cookie, when no key came with the request (a key wins).
    const std::string_view cookie = cookie_value(req->cookie, kSessionCookie);
    if (authorization.empty() && !cookie.empty() && ctx_.sessions) {
      auto session = ctx_.sessions->use(cookie);
      if (!session) {
        Response r = unauthorized(style,
                                  "the session has ended (expired, logged out, or its key was "
                                  "revoked or changed): log in again");
        r.headers.emplace_back("Set-Cookie", session_cookie("", 0, req->tls));
        return done(std::move(r));
      }
      // A cookie rides along with any request the browser makes, a forged cross-site one
      // included: a state-changing request must come from this origin and carry the
      // session's CSRF token, which only this origin's pages can read.
      if (state_changing(req->method)) {
        if (!same_origin(*req))
          return done(styled_error(style, 403, "csrf_origin_mismatch",
                                   "a request made with the session cookie must come from "
                                   "this server's own origin"));
        if (!secrets_equal(req->csrf_token, session->csrf_token))
          return done(styled_error(style, 403, "csrf_token_invalid",
                                   "a request made with the session cookie needs the session's "
                                   "X-CSRF-Token header (from POST or GET /api/v1/session)"));
      }
      who = Principal{session->key_id, session->name, session->role};
    }
    AuthThrottle* throttle = authorization.empty() ? nullptr : ctx_.keys.throttle();
    if (throttle && throttle->saturated(req->remote_address, "http")) {
      Response r = styled_error(style, 429, "too_many_failed_authentications",
                                "too many failed authentications from this address are "
                                "waiting for their answer; retry later");
      r.headers.emplace_back("Retry-After", "10");
      return done(std::move(r));
    }
    if (!who && ctx_.forwarded_principal) who = ctx_.forwarded_principal(authorization, *req);
    if (!who) who = ctx_.keys.authenticate(authorization);
    if (who && key_from_query) who->role = ApiRole::kRead;
    if (!who && match.route && match.route->access == Access::kDevice && ctx_.device_tokens)
      device = ctx_.device_tokens->device_for(bearer_token(authorization));
    if (!who && !device) {
      Response r = unauthorized(style, authorization.empty()
                                           ? "an API key is required: Authorization: Bearer <key>"
                                           : "the API key is not valid");
      // A credential was presented and refused: a guess, maybe; answered late (throttle).
      if (throttle) {
        const auto wait = throttle->failed(req->remote_address, "http");
        if (wait.count() > 0) {
          throttle->run_after(
              wait, [throttle, address = req->remote_address, done, r = std::move(r)]() mutable {
                throttle->answered(address);
                done(std::move(r));
              });
          return;
        }
      }
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
      return done(styled_error(style, 403, "forbidden",
                               "this needs the " + std::string(to_string(*need)) +
                                   " role; the key has " + std::string(to_string(who->role))));
    rc.principal = who->key_id;
  }
  if (device) {
    rc.principal = "device:" + *device;
    rc.device_id = *device;
  }
  // Compressed bodies (after authentication: nobody unknown makes the server inflate).
  if (!req->content_encoding.empty() && !req->body.empty()) {
    if (starts_with_ci(req->content_encoding, "gzip") ||
        starts_with_ci(req->content_encoding, "x-gzip")) {
      auto plain = gunzip(req->body, options_.max_inflated_bytes);
      if (!plain.ok()) {
        const bool too_large = plain.status().code() == StatusCode::kTooLarge;
        ctx_.metrics.ingest_rejected.with({too_large ? "body_too_large" : "malformed_body"}).inc();
        return done(styled_error(style, too_large ? 413 : 400,
                                 too_large ? "payload_too_large" : "bad_encoding",
                                 plain.status().message()));
      }
      req->body = std::move(*plain);
    } else if (!starts_with_ci(req->content_encoding, "identity")) {
      return done(styled_error(style, 415, "unsupported_encoding",
                               "Content-Encoding '" + req->content_encoding +
                                   "' is not supported (use gzip or identity)"));
    }
  }
  if (dispatch_disk_work(ctx_.disk_work, *match.route, rc, style, done)) return;  // slowdisk
  try {
    match.route->handler(rc, done);
  } catch (const std::exception& e) {
    spdlog::error("event=handler_exception route={} error=\"{}\"", route, e.what());
    done(styled_error(style, 500, "internal", "internal error"));
  }
}

}  // namespace fp::http
