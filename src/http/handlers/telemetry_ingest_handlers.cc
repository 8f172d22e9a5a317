// Telemetry ingest: POST /api/v1/telemetry (JSON, every reading form) and POST /api/v1/write
// and /write (InfluxDB line protocol). Answered by the commit thread once durable. Readings
// beyond a cardinality limit are item errors (422) naming the limit; a request whose new
// devices exceed the auto-registration rate is refused whole (429 with Retry-After). A 422
// lists the first 100 rejected items and counts them all (`rejected_count`).

#include <algorithm>
#include <span>

#include "http/handlers/routes.h"
#include "ingest/line_protocol.h"
#include "ingest/telemetry_json.h"
#include "kpi/device_activity_log.h"
#include "model/time_format.h"
#include "util/json_writer.h"

namespace fp::http {
namespace {

// The 422 body lists the first rejected items only (a request of 100k bad items would
// otherwise be answered with megabytes); `rejected_count` says how many there were.
constexpr size_t kMaxRejectedListed = 100;

std::string rejected_json(const std::vector<ItemError>& errors) {
  JsonWriter w;
  w.begin_array();
  for (const auto& e : std::span(errors).first(std::min(errors.size(), kMaxRejectedListed)))
    w.begin_object()
        .field("index", static_cast<uint64_t>(e.index))
        .field("error", e.message)
        .end_object();
  w.end_array();
  return w.take();
}

// The answer once the batch is durable: `success` when every item was stored, else 422 with
// the rejected items.
Response ingest_answer(const TelemetryAck& ack, size_t accepted_items,
                       const std::vector<ItemError>& errors, Response success) {
  if (!ack.status.ok()) return error_response(ack.status);
  if (errors.empty()) return success;
  JsonWriter w;
  w.begin_object().field("accepted", static_cast<uint64_t>(accepted_items));
  w.key("rejected").raw(rejected_json(errors));
  w.field("rejected_count", static_cast<uint64_t>(errors.size()));
  w.end_object();
  return Response::json(422, w.take());
}

// 429 naming the registration limit, with the seconds until it admits the batch's devices.
Response registration_refused(const Status& st, int64_t retry_after_s) {
  Response r = error_response(429, "rate_limited", st.message());
  for (auto& [name, value] : r.headers)
    if (name == "Retry-After") value = std::to_string(retry_after_s);
  return r;
}

// The batch's new devices within the auto-registration rate? Else answers 429 and counts the
// request's items as refused; false then.
bool admit_devices(ApiContext& ctx, const ReadingBatch& batch, size_t items, Responder& respond) {
  int64_t retry_after_s = 1;
  Status st = ctx.ingestor.admit_new_devices(batch.devices(), ctx.clock.now_ms(), &retry_after_s);
  if (st.ok()) return true;
  ctx.metrics.ingest_rejected.with({std::string(limit_label(LimitKind::kRegistrationRate))})
      .inc(static_cast<double>(std::max<size_t>(items, 1)));
  respond(registration_refused(st, retry_after_s));
  return false;
}

// The batch's attribute keys within --max-attributes-per-device? Else answers 422 naming the
// limit (nothing of the request is stored) and counts its items as refused; false then.
bool admit_attribute_keys(ApiContext& ctx, const ReadingBatch& batch, size_t items,
                          Responder& respond) {
  std::string refused =
      ctx.ingestor.limits().admit_attribute_keys(batch, [&ctx](const std::string& device) {
        std::vector<std::string> keys;
        if (auto known = ctx.catalog.device_attributes(device); known.ok())
          for (auto& a : *known) keys.push_back(std::move(a.key));
        return keys;
      });
  if (refused.empty()) return true;
  ctx.metrics.ingest_rejected.with({std::string(limit_label(LimitKind::kAttributesPerDevice))})
      .inc(static_cast<double>(std::max<size_t>(items, 1)));
  respond(error_response(422, "limit_exceeded", refused));
  return false;
}

// `admission` holds the batch's new series reserved until the batch is committed.
void submit(ApiContext& ctx, std::shared_ptr<ReadingBatch> batch, std::string_view transport,
            size_t items, std::shared_ptr<std::vector<ItemError>> errors, Response success,
            std::shared_ptr<SeriesAdmission> admission, Responder respond) {
  const size_t accepted = items - errors->size();
  if (!errors->empty()) {
    size_t by_limits = 0;
    for (int k = 1; k < kLimitKindCount; ++k) {
      const auto kind = static_cast<LimitKind>(k);
      if (const size_t n = admission->refused(kind); n > 0) {
        ctx.metrics.ingest_rejected.with({std::string(limit_label(kind))})
            .inc(static_cast<double>(n));
        by_limits += n;
      }
    }
    if (errors->size() > by_limits)
      ctx.metrics.ingest_rejected.with({"invalid_reading"})
          .inc(static_cast<double>(errors->size() - by_limits));
    // Per-device error rates: rejections count for the device when the request is one
    // device's (a rejected item's own device id is not known).
    if (ctx.activity && batch->devices().size() == 1)
      ctx.activity->record_rejected(batch->devices()[0], ctx.clock.now_ms(), errors->size());
  }
  if (batch->empty()) {
    // Nothing valid: no need to wait for the disk.
    return respond(
        ingest_answer(TelemetryAck{Status::Ok()}, accepted, *errors, std::move(success)));
  }
  const size_t points = batch->points().size();
  std::string t(transport);
  ctx.writes.submit_telemetry(
      std::move(batch), ctx.clock.now_ms(),
      [&ctx, t, points, accepted, errors, success = std::move(success),
       admission = std::move(admission), respond = std::move(respond)](TelemetryAck ack) mutable {
        admission.reset();  // the batch's series are in the index now (or were not written)
        if (ack.status.ok()) {
          ctx.metrics.points_ingested.with({t}).inc(static_cast<double>(points));
          ctx.ingest_rate.record(ctx.clock.now_ms(), points);
        } else {
          ctx.metrics.ingest_rejected.with({"overloaded_or_storage"})
              .inc(static_cast<double>(points));
        }
        respond(ingest_answer(ack, accepted, *errors, std::move(success)));
      });
}

// A bad ?precision= refuses the whole request, counted as a drop.
Result<Precision> precision_param(ApiContext& ctx, const Request& req, Precision fallback) {
  auto v = req.param("precision");
  if (!v) return fallback;
  auto p = parse_precision(*v);
  if (!p) {
    ctx.metrics.ingest_rejected.with({"invalid_parameter"}).inc();
    return Status::InvalidArgument("precision must be s, ms, us or ns");
  }
  return *p;
}

void telemetry(ApiContext& ctx, RequestContext& rc, Responder respond) {
  auto precision = precision_param(ctx, rc.request, Precision::kMillis);
  if (!precision.ok()) return respond(error_response(precision.status()));
  TelemetryJsonOptions opt;
  opt.precision = *precision;
  opt.path_device_id = rc.device_id;  // a device token writes only its own readings
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
  if (!admit_devices(ctx, *batch, items, respond)) return;
  if (!admit_attribute_keys(ctx, *batch, items, respond)) return;
  batch->set_wire_bytes(rc.request.body.size());
  JsonWriter ok;
  ok.begin_object().field("accepted", static_cast<uint64_t>(items)).end_object();
  submit(ctx, std::move(batch), "http", items, std::move(errors), Response::json(200, ok.take()),
         std::move(admission), std::move(respond));
}

void line_protocol(ApiContext& ctx, RequestContext& rc, Responder respond) {
  auto precision = precision_param(ctx, rc.request, Precision::kNanos);
  if (!precision.ok()) return respond(error_response(precision.status()));
  LineProtocolOptions opt;
  opt.precision = *precision;
  auto admission = std::make_shared<SeriesAdmission>(ctx.ingestor.limits(), ctx.clock.now_ms());
  opt.admission = admission.get();
  auto batch = std::make_shared<ReadingBatch>();
  auto errors = std::make_shared<std::vector<ItemError>>();
  size_t lines = 0;
  decode_line_protocol(rc.request.body, opt, ctx.clock.now_ms(), *batch, *errors, &lines);
  if (!rc.device_id.empty())
    for (const auto& d : batch->devices())
      if (d != rc.device_id) {
        ctx.metrics.ingest_rejected.with({"forbidden_device"}).inc(static_cast<double>(lines));
        return respond(error_response(
            403, "forbidden", "a device token may only write its own data, not '" + d + "'"));
      }
  if (!admit_devices(ctx, *batch, lines, respond)) return;
  if (!admit_attribute_keys(ctx, *batch, lines, respond)) return;
  batch->set_wire_bytes(rc.request.body.size());
  submit(ctx, std::move(batch), "line_protocol", lines, std::move(errors), Response::no_content(),
         std::move(admission), std::move(respond));
}

}  // namespace

void add_telemetry_ingest_routes(Router& r, ApiContext& ctx) {
  r.add(Method::kPost, "/api/v1/telemetry", Access::kDevice,
        [&ctx](RequestContext& rc, Responder respond) { telemetry(ctx, rc, std::move(respond)); });
  for (const char* path : {"/api/v1/write", "/write"})
    r.add(Method::kPost, path, Access::kDevice, [&ctx](RequestContext& rc, Responder respond) {
      line_protocol(ctx, rc, std::move(respond));
    });
}

}  // namespace fp::http
