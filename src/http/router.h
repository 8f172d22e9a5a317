#pragma once
// Router: maps (method, path pattern) to a handler. Patterns are literal segments and
// `{name}` placeholders ("/api/v1/devices/{id}/heartbeat"). A path that matches some pattern
// but not the method gives 405; no match gives 404.
//
// Thread safety: routes are added before the server starts; matching is read-only.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "http/http_types.h"

namespace fp::http {

enum class Access { kPublic, kRead, kWrite, kAdmin, kDevice };

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
           ErrorStyle errors = ErrorStyle::kApi);
  // Like add(), but takes the place of a route already added for the same method and pattern
  // (the compatibility routes use this where another stack owns a path, e.g. InfluxDB's
  // /write); adds the route when there is none.
  void replace(Method m, std::string pattern, Access access, Handler h,
               ErrorStyle errors = ErrorStyle::kApi);
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
