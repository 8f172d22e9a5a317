// The commit path of every compatibility route that writes readings.

#include "compat/compat_handlers.h"
#include "kpi/device_activity_log.h"

namespace fp::compat {

void commit_batch(http::ApiContext& ctx, std::shared_ptr<ReadingBatch> batch,
                  std::string_view transport, size_t rejected,
                  std::function<void(const Status&)> done) {
  if (rejected > 0) {
    ctx.metrics.ingest_rejected.with({"invalid_reading"}).inc(static_cast<double>(rejected));
    if (ctx.activity && batch->devices().size() == 1)
      ctx.activity->record_rejected(batch->devices()[0], ctx.clock.now_ms(), rejected);
  }
  if (batch->empty()) return done(Status::Ok());
  const size_t points = batch->points().size();
  ctx.writes.submit_telemetry(
      std::move(batch), ctx.clock.now_ms(),
      [&ctx, t = std::string(transport), points, done = std::move(done)](TelemetryAck ack) {
        if (ack.status.ok()) {
          ctx.metrics.points_ingested.with({t}).inc(static_cast<double>(points));
          ctx.ingest_rate.record(ctx.clock.now_ms(), points);
        } else {
          ctx.metrics.ingest_rejected.with({"overloaded_or_storage"})
              .inc(static_cast<double>(points));
        }
        done(ack.status);
      });
}

}  // namespace fp::compat
