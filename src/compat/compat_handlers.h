#pragma once
// The handlers compat_routes.cc registers (one file per kind: stack_device_handlers.cc,
// influx_handlers.cc). Each answers once the data is durable, like the native routes.

#include "http/handlers/api_context.h"
#include "http/router.h"
#include "ingest/cardinality_limits.h"
#include "model/reading_batch.h"

namespace fp::compat {

// Hands `batch` to the commit path and calls `done` with the outcome once it is durable (at
// once with OK when the batch is empty). Counts points and rejections in /metrics the way
// the native routes do; `rejected` items are counted as invalid readings, or by the limit
// that refused them (`admission`, which holds the batch's reserved series until it is
// committed; may be null).
void commit_batch(http::ApiContext& ctx, std::shared_ptr<ReadingBatch> batch,
                  std::string_view transport, size_t rejected,
                  std::shared_ptr<SeriesAdmission> admission,
                  std::function<void(const Status&)> done);
// The auto-registration rate (Ingestor::admit_new_devices) for a decoded batch of `items`:
// true when its new devices fit; else false with the refusal (kOverloaded naming the limit)
// and the seconds to wait, counted in /metrics.
bool admit_devices(http::ApiContext& ctx, const ReadingBatch& batch, size_t items,
                   int64_t* retry_after_s, Status* refusal);

// POST /ingest: one flat reading (or any telemetry form); 200 {"status":"queued","device_id"}.
void ingest(http::ApiContext& ctx, http::RequestContext& rc, http::Responder respond);
// POST /api/device/data and /bulk, POST /api/v1/devices/{id}/metrics (device from the path):
// 200 {"status":"success","accepted":N[,"device_id"]}; 422 as the native API when some
// readings were rejected (the valid ones are stored).
void device_data(http::ApiContext& ctx, http::RequestContext& rc, http::Responder respond);

// POST /api/v2/write?org=&bucket=&precision=ns|us|ms|s (InfluxDB 2.x).
void influx_v2_write(http::ApiContext& ctx, http::RequestContext& rc, http::Responder respond);
// POST /write?db=&rp=&precision=n|ns|u|us|ms|s|m|h (InfluxDB 1.x).
void influx_v1_write(http::ApiContext& ctx, http::RequestContext& rc, http::Responder respond);
// POST /query (InfluxDB 1.x): `CREATE DATABASE ...` (Telegraf's first call) answers 200 and
// does nothing (there is one store); any other statement is 400: queries are not served.
void influx_v1_query(http::RequestContext& rc, http::Responder respond);
// GET/HEAD /ping: 204 with InfluxDB's version headers (200 {"version"} with ?verbose=true).
void influx_ping(http::RequestContext& rc, http::Responder respond);
// InfluxDB's /health body (what its client libraries' health() reads).
http::Response influx_health();
// True for the User-Agent of an InfluxDB client library or Telegraf.
bool is_influx_client(std::string_view user_agent);

inline constexpr std::string_view kInfluxVersion = "2.7.0";

}  // namespace fp::compat
