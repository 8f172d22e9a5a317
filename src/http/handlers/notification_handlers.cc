// Webhook dead letters: GET /api/v1/notifications/dead-letters, POST .../{id}/retry.

#include <charconv>

#include "alerting/webhook_notifier.h"
#include "http/handlers/query_params.h"
#include "http/handlers/routes.h"
#include "model/time_format.h"
#include "util/json_writer.h"

namespace fp::http {

void add_notification_routes(Router& r, ApiContext& ctx) {
  r.add(Method::kGet, "/api/v1/notifications/dead-letters", Access::kRead,
        [&ctx](RequestContext& rc, Responder respond) {
          auto limit = limit_param(rc.request, 100, 1000);
          if (!limit.ok()) return respond(error_response(limit.status()));
          auto list = ctx.catalog.list_dead_letters(*limit);
          if (!list.ok()) return respond(error_response(list.status()));
          JsonWriter w;
          w.begin_object().key("dead_letters").begin_array();
          for (const DeadLetter& d : *list) {
            w.begin_object().field("id", std::to_string(d.id));
            w.field("alert_id", std::to_string(d.alert_id));
            w.key("rule_id");
            if (d.rule_id.empty())
              w.null();
            else
              w.value(d.rule_id);
            w.field("url", d.url).field("attempts", d.attempts).field("last_error", d.last_error);
            w.field("created_at", format_rfc3339(d.created_at_ms));
            w.field("failed_at", format_rfc3339(d.failed_at_ms));
            w.key("payload").raw(d.payload);
            w.end_object();
          }
          w.end_array().end_object();
          respond(Response::json(200, w.take()));
        });
  r.add(
      Method::kPost, "/api/v1/notifications/dead-letters/{id}/retry", Access::kWrite,
      [&ctx](RequestContext& rc, Responder respond) {
        const std::string& text = rc.params.get("id");
        int64_t id = 0;
        auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
        if (ec != std::errc() || p != text.data() + text.size() || id <= 0)
          return respond(error_response(Status::NotFound("dead letter '" + text + "' not found")));
        Status s = ctx.notifier->retry_dead_letter(id);
        if (!s.ok()) return respond(error_response(s));
        JsonWriter w;
        w.begin_object().field("id", text).field("queued", true).end_object();
        respond(Response::json(202, w.take()));
      });
}

}  // namespace fp::http
