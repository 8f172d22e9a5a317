// The routes of alerting, notifications, the live stream and KPIs, added as one group.

#include "http/handlers/routes.h"

namespace fp::http {

void add_rule_routes(Router& r, ApiContext& ctx);
void add_alert_routes(Router& r, ApiContext& ctx);
void add_notification_routes(Router& r, ApiContext& ctx);
void add_stream_routes(Router& r, ApiContext& ctx);
void add_kpi_routes(Router& r, ApiContext& ctx);

void add_alerting_routes(Router& r, ApiContext& ctx) {
  add_rule_routes(r, ctx);
  add_alert_routes(r, ctx);
  add_notification_routes(r, ctx);
  add_stream_routes(r, ctx);
  add_kpi_routes(r, ctx);
}

}  // namespace fp::http
