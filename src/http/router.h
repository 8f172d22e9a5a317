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
  std::vector<std::string> segments;  // the pattern split at '/'
};

class Router {
 public:
  void add(Method m, std::string pattern, Access access, Handler h);

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
