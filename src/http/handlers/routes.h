#pragma once
// Each resource's handler file adds its routes to the router.

#include "http/handlers/api_context.h"
#include "http/router.h"

namespace fp::http {

void add_health_routes(Router& r, ApiContext& ctx);
void add_device_routes(Router& r, ApiContext& ctx);
void add_heartbeat_routes(Router& r, ApiContext& ctx);
void add_stats_routes(Router& r, ApiContext& ctx);
void add_admin_routes(Router& r, ApiContext& ctx);
void add_telemetry_ingest_routes(Router& r, ApiContext& ctx);
void add_telemetry_query_routes(Router& r, ApiContext& ctx);
void add_web_routes(Router& r, ApiContext& ctx);
void add_alerting_routes(Router& r, ApiContext& ctx);  // rules, alerts, notifications, stream
void add_device_token_routes(Router& r, ApiContext& ctx);
void add_device_command_routes(Router& r, ApiContext& ctx);
void add_fleet_history_routes(Router& r, ApiContext& ctx);
void add_prometheus_routes(Router& r, ApiContext& ctx);  // /prometheus/api/v1 (PromQL)
void add_session_routes(Router& r, ApiContext& ctx);     // dashboard login (authsec)
void add_cluster_routes(Router& r, ApiContext& ctx);     // GET /api/v1/cluster

inline void add_all_routes(Router& r, ApiContext& ctx) {
  add_health_routes(r, ctx);
  add_device_routes(r, ctx);
  add_heartbeat_routes(r, ctx);
  add_stats_routes(r, ctx);
  add_admin_routes(r, ctx);
  add_telemetry_ingest_routes(r, ctx);
  add_telemetry_query_routes(r, ctx);
  add_web_routes(r, ctx);
  add_alerting_routes(r, ctx);
  add_device_token_routes(r, ctx);
  add_device_command_routes(r, ctx);
  add_fleet_history_routes(r, ctx);
  add_prometheus_routes(r, ctx);
  add_session_routes(r, ctx);
  add_cluster_routes(r, ctx);
}

}  // namespace fp::http
