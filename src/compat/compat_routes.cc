// Every compatibility route, registered in one place (tables in docs/compatibility.md).

#include "compat/compat_routes.h"

#include "compat/compat_handlers.h"

namespace fp::compat {
namespace {

using http::Access;
using http::ErrorStyle;
using http::Method;
using http::RequestContext;
using http::Responder;

// Serves `pattern` with the handler of the native route `native` (same method and access).
void alias(http::Router& r, Method m, std::string_view native, std::string pattern) {
  for (const auto& route : r.routes())
    if (route.method == m && route.pattern == native) {
      auto handler = route.handler;
      const Access access = route.access;
      r.add(m, std::move(pattern), access, std::move(handler));
      return;
    }
}

}  // namespace

void add_compat_routes(http::Router& r, http::ApiContext& ctx) {
  // The small stacks' device calls.
  alias(r, Method::kPost, "/api/v1/heartbeat", "/heartbeat");
  alias(r, Method::kPost, "/api/v1/devices/{id}/heartbeat", "/api/devices/{id}/heartbeat");
  r.add(Method::kPost, "/ingest", Access::kDevice,
        [&ctx](RequestContext& rc, Responder respond) { ingest(ctx, rc, std::move(respond)); });
  for (const char* path :
       {"/api/device/data", "/api/device/data/bulk", "/api/v1/devices/{id}/metrics"})
    r.add(Method::kPost, path, Access::kDevice, [&ctx](RequestContext& rc, Responder respond) {
      device_data(ctx, rc, std::move(respond));
    });

  // InfluxDB. /write is InfluxDB 1.x's path: its errors are InfluxDB's, not the native 422.
  r.add(
      Method::kPost, "/api/v2/write", Access::kDevice,
      [&ctx](RequestContext& rc, Responder respond) {
        influx_v2_write(ctx, rc, std::move(respond));
      },
      ErrorStyle::kInfluxV2);
  r.replace(
      Method::kPost, "/write", Access::kDevice,
      [&ctx](RequestContext& rc, Responder respond) {
        influx_v1_write(ctx, rc, std::move(respond));
      },
      ErrorStyle::kInfluxV1);
  r.add(
      Method::kPost, "/query", Access::kWrite,
      [](RequestContext& rc, Responder respond) { influx_v1_query(rc, std::move(respond)); },
      ErrorStyle::kInfluxV1);
  r.add(Method::kGet, "/ping", Access::kPublic,
        [](RequestContext& rc, Responder respond) { influx_ping(rc, std::move(respond)); });
  // /health stays fleetpulse's {"status":"ok",...} except for InfluxDB clients, which read
  // {"status":"pass"} (the User-Agent of the client libraries and Telegraf tells them apart).
  r.wrap(Method::kGet, "/health", [](http::Handler native) -> http::Handler {
    return [native = std::move(native)](RequestContext& rc, Responder respond) {
      if (is_influx_client(rc.request.user_agent)) return respond(influx_health());
      native(rc, std::move(respond));
    };
  });
}

}  // namespace fp::compat
