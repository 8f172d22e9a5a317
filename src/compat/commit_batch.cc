// The commit path of every compatibility route that writes readings.

#include <algorithm>

#include "compat/compat_handlers.h"
#include "kpi/device_activity_log.h"

namespace fp::compat {

bool admit_devices(http::ApiContext& ctx, const ReadingBatch& batch, size_t items,
                   int64_t* retry_after_s, Status* refusal) {
  *refusal = ctx.ingestor.admit_new_devices(batch.devices(), ctx.clock.now_ms(), retry_after_s);
  if (refusal->ok()) return true;
  ctx.metrics.ingest_rejected.with({std::string(limit_label(LimitKind::kRegistrationRate))})
      .inc(static_cast<double>(std::max<size_t>(items, 1)));
  return false;
}

void commit_batch(http::ApiContext& ctx, std::shared_ptr<ReadingBatch> batch,
                  std::string_view transport, size_t rejected,
                  std::shared_ptr<SeriesAdmission> admission,
                  std::function<void(const Status&)> done) {
  if (rejected > 0) {
    size_t by_limits = 0;
    for (int k = 1; k < kLimitKindCount; ++k) {
      const auto kind = static_cast<LimitKind>(k);
      if (const size_t n = admission ? admission->refused(kind) : 0; n > 0) {
        ctx.metrics.ingest_rejected.with({std::string(limit_label(kind))})
            .inc(static_cast<double>(n));
        by_limits += n;
      }
    }
    if (rejected > by_limits)
      ctx.metrics.ingest_rejected.with({"invalid_reading"})
          .inc(static_cast<double>(rejected - by_limits));
    if (ctx.activity && batch->devices().size() == 1)
      ctx.activity->record_rejected(batch->devices()[0], ctx.clock.now_ms(), rejected);
  }
  if (batch->empty()) return done(Status::Ok());
  const size_t points = batch->points().size();
  ctx.writes.submit_telemetry(
      std::move(batch), ctx.clock.now_ms(),
      [&ctx, t = std::string(transport), points, admission = std::move(admission),
       done = std::move(done)](TelemetryAck ack) mutable {
        admission.reset();  // the batch's series are in the index now (or were not written)
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
