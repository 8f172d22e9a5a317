#pragma once
// ApiDispatcher: the path of every HTTP request after parsing: CORS preflight, route match
// (404/405), authentication and role check (401/403), the body's Content-Encoding (gzip,
// inflated up to the body limit: 413 beyond), the handler, and request metrics. A handler that
// throws is answered with a JSON 500 and logged; the server keeps serving.
//
// Credentials, in this order: `Authorization: Bearer <key>`, `Token <key>` (InfluxDB 2.x),
// `Basic base64(user:key)` (InfluxDB 1.x; the user name is ignored, the password is the key),
// `?api_key=` (browsers' EventSource), and `?p=` on InfluxDB 1.x routes (`u`/`p`).

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

// The API key or token carried by `req` in any of the accepted forms (see above), as an
// "Authorization: Bearer <key>" header value; empty when there is none. `influx_v1` also takes
// the `p` query parameter.
std::string normalized_authorization(const Request& req, bool influx_v1);

}  // namespace fp::http
