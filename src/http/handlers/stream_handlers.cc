// The live stream: GET /api/v1/stream (Server-Sent Events; see live/live_event_hub.h).

#include "http/handlers/routes.h"
#include "live/live_event_hub.h"

namespace fp::http {

void add_stream_routes(Router& r, ApiContext& ctx) {
  r.add(Method::kGet, "/api/v1/stream", Access::kRead,
        [&ctx](RequestContext& rc, Responder respond) {
          std::vector<std::string> devices;
          if (auto list = rc.request.param("device_id")) {
            std::string_view rest = *list;
            while (!rest.empty()) {
              const size_t comma = rest.find(',');
              std::string_view id = rest.substr(0, comma);
              rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
              if (id.empty()) continue;
              if (std::string why = validate_device_id(id); !why.empty())
                return respond(error_response(400, "invalid_parameter", "device_id: " + why));
              devices.emplace_back(id);
            }
          }
          Response res;
          res.content_type = "text/event-stream";
          res.headers.emplace_back("Cache-Control", "no-cache");
          res.headers.emplace_back("X-Accel-Buffering", "no");
          // The key id it was opened with: revoking the key or changing its role ends it.
          res.on_stream = [&ctx, devices = std::move(devices),
                           principal = rc.principal](std::shared_ptr<StreamSink> sink) {
            ctx.live->subscribe([sink](std::string frame) { return sink->write(std::move(frame)); },
                                devices, principal, [sink] { sink->close(); });
          };
          respond(std::move(res));
        });
}

}  // namespace fp::http
