#pragma once
// Router: maps (method, path pattern) to a handler. Patterns are literal segments and
// `{name}` placeholders ("/api/v1/devices/{id}/heartbeat"). A path that matches some pattern
// but not the method gives 405; no match gives 404.
//
// A route that takes a JSON body answers 415 to a non-empty body declared as another format
// (XML, multipart, protobuf...); no Content-Type, JSON, text/plain and the form type curl sends
// by default stay accepted, since clients send those for JSON. Routes whose bodies are not
// JSON are exempt: the line-protocol writes (a last segment `write`), the InfluxDB-style routes
// and the Prometheus API (form-encoded queries), or any route added with BodyFormat::kAny.
//
// Thread safety: routes are added before the server starts; matching is read-only.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "http/http_types.h"

namespace fp::http {

enum class Access { kPublic, kRead, kWrite, kAdmin, kDevice };

// What a route's body may be declared as (see above). kDefault: kJson for POST, PUT and PATCH
// unless the route is one of the exempt kinds; kAny: the handler reads Content-Type itself.
enum class BodyFormat { kDefault, kJson, kAny };

// True when `content_type` may label a JSON body: empty, application/json, application/*+json,
// text/json, text/plain or application/x-www-form-urlencoded (parameters such as charset
// ignored, case-insensitive).
bool json_compatible_content_type(std::string_view content_type);

struct PathParams {
  std::vector<std::pair<std::string, std::string>> values;
  const std::string& get(std::string_view name) const;
};

struct RequestContext {
  const Request& request;
  PathParams params;
  std::string principal;  // key id, or "device:<id>", or "anonymous"
  std::string device_id;  // set when a device token authenticated the request (Access::kDevice)
};

using Handler = std::function<void(RequestContext& ctx, Responder respond)>;

struct Route {
  Method method;
  std::string pattern;
  Access access;
  Handler handler;
  std::vector<std::string> segments;     // the pattern split at '/'
  ErrorStyle errors = ErrorStyle::kApi;  // the shape of the dispatcher's own errors (401, 413...)
};

class Router {
 public:
  void add(Method m, std::string pattern, Access access, Handler h,
           ErrorStyle errors = ErrorStyle::kApi, BodyFormat body = BodyFormat::kDefault);
  // Like add(), but takes the place of a route already added for the same method and pattern
  // (the compatibility routes use this where another stack owns a path, e.g. InfluxDB's
  // /write); adds the route when there is none.
  void replace(Method m, std::string pattern, Access access, Handler h,
               ErrorStyle errors = ErrorStyle::kApi, BodyFormat body = BodyFormat::kDefault);
  // Calls `wrap` with the handler of the route (m, pattern) and installs what it returns.
  // False (nothing changed) when there is no such route.
  bool wrap(Method m, std::string_view pattern, const std::function<Handler(Handler)>& wrap);

  struct Match {
    const Route* route = nullptr;  // null: see status
    PathParams params;
    int status = 404;     // 404 no such path, 405 wrong method
    std::string allowed;  // with 405: the methods the path takes, e.g. "GET, POST"
  };
  Match match(Method m, std::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

}  // namespace fp::http
