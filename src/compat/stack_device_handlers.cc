// The device-side calls of the small stacks fleetpulse replaces: POST /ingest,
// POST /api/device/data and /bulk, POST /api/v1/devices/{id}/metrics. Their bodies are
// telemetry JSON forms the native decoder reads (flat, metric_type/value, {"readings":[...]});
// only the success answers differ, shaped as those stacks answered.

#include "compat/compat_handlers.h"
#include "ingest/telemetry_json.h"
#include "util/json_writer.h"

namespace fp::compat {
namespace {

using http::error_response;
using http::Response;

// The native API's answer when some readings were rejected (API.md "Write semantics").
Response rejected_answer(size_t accepted, const std::vector<ItemError>& errors) {
  JsonWriter w;
  w.begin_object().field("accepted", static_cast<uint64_t>(accepted)).key("rejected");
  w.begin_array();
  for (const auto& e : errors)
    w.begin_object()
        .field("index", static_cast<uint64_t>(e.index))
        .field("error", e.message)
        .end_object();
  w.end_array().end_object();
  return Response::json(422, w.take());
}

// Decodes the body as telemetry JSON (device from the path or the device token, when set) and
// answers `success(accepted, device)` once the valid readings are durable.
void write_readings(http::ApiContext& ctx, http::RequestContext& rc, std::string path_device,
                    http::Responder respond,
                    std::function<Response(size_t accepted, const std::string& device)> success) {
  if (!rc.device_id.empty()) {  // a device token writes only its own readings
    if (!path_device.empty() && path_device != rc.device_id) {
      ctx.metrics.ingest_rejected.with({"forbidden_device"}).inc();
      return respond(
          error_response(403, "forbidden", "a device token may only write its own data"));
    }
    path_device = rc.device_id;
  }
  TelemetryJsonOptions opt;
  opt.path_device_id = path_device;
  auto admission = std::make_shared<SeriesAdmission>(ctx.ingestor.limits(), ctx.clock.now_ms());
  opt.admission = admission.get();
  auto batch = std::make_shared<ReadingBatch>();
  auto errors = std::make_shared<std::vector<ItemError>>();
  size_t items = 0;
  Status st =
      decode_telemetry_json(rc.request.body, opt, ctx.clock.now_ms(), *batch, *errors, &items);
  if (!st.ok()) {
    ctx.metrics.ingest_rejected.with({"malformed_body"}).inc();
    return respond(error_response(st));
  }
  int64_t retry_after_s = 1;
  if (Status refusal; !admit_devices(ctx, *batch, items, &retry_after_s, &refusal)) {
    Response r = error_response(429, "rate_limited", refusal.message());
    for (auto& [name, value] : r.headers)
      if (name == "Retry-After") value = std::to_string(retry_after_s);
    return respond(std::move(r));
  }
  batch->set_wire_bytes(rc.request.body.size());
  const std::string device = !path_device.empty()       ? path_device
                             : batch->devices().empty() ? std::string()
                                                        : batch->devices()[0];
  const size_t accepted = items - errors->size();
  const size_t rejected = errors->size();
  commit_batch(ctx, std::move(batch), "http", rejected, std::move(admission),
               [errors, accepted, device, success = std::move(success),
                respond = std::move(respond)](const Status& s) {
                 if (!s.ok()) return respond(error_response(s));
                 if (!errors->empty()) return respond(rejected_answer(accepted, *errors));
                 respond(success(accepted, device));
               });
}

}  // namespace

void ingest(http::ApiContext& ctx, http::RequestContext& rc, http::Responder respond) {
  write_readings(ctx, rc, {}, std::move(respond), [](size_t, const std::string& device) {
    JsonWriter w;
    w.begin_object().field("status", "queued").field("device_id", device).end_object();
    return Response::json(200, w.take());
  });
}

void device_data(http::ApiContext& ctx, http::RequestContext& rc, http::Responder respond) {
  std::string path_device = rc.params.get("id");
  const bool from_path = !path_device.empty();
  write_readings(ctx, rc, std::move(path_device), std::move(respond),
                 [from_path](size_t accepted, const std::string& device) {
                   JsonWriter w;
                   w.begin_object().field("status", "success");
                   if (from_path) w.field("device_id", device);
                   w.field("accepted", static_cast<uint64_t>(accepted)).end_object();
                   return Response::json(200, w.take());
                 });
}

}  // namespace fp::compat
