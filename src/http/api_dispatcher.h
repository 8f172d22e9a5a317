#pragma once
// ApiDispatcher: the path of every HTTP request after parsing: CORS preflight, route match
// (404/405), authentication and role check (401/403), the body's Content-Encoding (gzip,
// inflated up to the body limit: 413 beyond), the handler, and request metrics. A handler that
// throws is answered with a JSON 500 and logged; the server keeps serving.
//
// Credentials, in this order: `Authorization: Bearer <key>`, `Token <key>` (InfluxDB 2.x),
// `Basic base64(user:key)` (InfluxDB 1.x; the user name is ignored, the password is the key),
// `?api_key=` (browsers' EventSource and download links: GET /api/v1/stream and
// /api/v1/export only, read role), and `?p=` on InfluxDB 1.x routes (`u`/`p`). Without any of
// them, the dashboard's session cookie (`fp_session`, see auth/session_store.h); a request made
// with the cookie that changes state must come from this origin (Origin, when sent, equals
// the Host) and carry the session's `X-CSRF-Token`, else 403. A presented credential that is
// refused counts against the client address (auth/auth_throttle.h): its 401 may be answered
// late, and 429 while too many of its refusals are waiting.

#include <string>
#include <vector>

#include "http/handlers/api_context.h"
#include "http/router.h"

namespace fp::http {

struct DispatcherOptions {
  size_t max_inflated_bytes = 8 * 1024 * 1024;  // a gzip body may inflate to this much
  // Origins allowed to call the API from a browser (CORS); empty: CORS off (no headers, and
  // preflights are not answered), "*": any origin.
  std::vector<std::string> cors_origins;
};

class ApiDispatcher {
 public:
  // `router` and `ctx` must outlive the dispatcher.
  ApiDispatcher(const Router& router, ApiContext& ctx, DispatcherOptions options = {})
      : router_(router), ctx_(ctx), options_(std::move(options)) {}
  void dispatch(Request&& req, Responder respond);

 private:
  bool origin_allowed(const std::string& origin) const;

  const Router& router_;
  ApiContext& ctx_;
  const DispatcherOptions options_;
};

// The dashboard's session cookie name.
inline constexpr std::string_view kSessionCookie = "fp_session";
// The value of cookie `name` in a Cookie header; empty when absent.
std::string_view cookie_value(std::string_view cookie_header, std::string_view name);
// Whether the request's Origin (when it has one) is this server's own origin (its Host).
bool same_origin(const Request& req);
// A Set-Cookie value for the session cookie (Max-Age 0 with an empty token ends it).
std::string session_cookie(std::string_view token, int64_t max_age_s, bool secure);

// The API key or token carried by `req` in any of the accepted forms (see above), as an
// "Authorization: Bearer <key>" header value; empty when there is none. `influx_v1` also takes
// the `p` query parameter.
std::string normalized_authorization(const Request& req, bool influx_v1);

}  // namespace fp::http
