#pragma once
// KpiHistorySampler: every `interval_ms` (--kpi-history-interval) measures each device's KPIs
// over the interval that just ended — availability and uptime from the catalog's status
// history, response time and message/error counts from the DeviceActivityLog, the latest
// battery level from the status tracker — plus their roll-up by device type, and writes them
// as series of the telemetry store under internal keys (kpi/kpi_series_keys.h) through the
// Ingestor's commit path (WAL, group commit), so they survive a kill -9 like telemetry and the
// PromQL API serves them (promql/kpi_history_source.h).
//
// Message and error counts are differences of the activity log's hourly counters between two
// samples. Each sample also writes, in the same batch (one WAL commit), the counters it counted
// to (kpi_keys::kBaselinePrefix), so restore() after a restart or kill -9 counts the first
// sample from the last one before it: the reports in between are in the history, once. A
// device created since the previous sample (an id used again) counts from zero.
// Thread safety: restore() before start(); start()/stop() from one thread; measure() from one
// thread at a time.

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "ingest/ingestor.h"
#include "kpi/device_activity_log.h"
#include "model/reading_batch.h"
#include "monitor/device_status_tracker.h"
#include "storage/catalog/catalog.h"
#include "util/clock.h"

namespace fp {
namespace tsdb {
class TimeSeriesStore;
}

class KpiHistorySampler {
 public:
  // Every reference must outlive the sampler.
  KpiHistorySampler(Catalog& catalog, const DeviceStatusTracker& tracker,
                    const DeviceActivityLog& activity, Ingestor& ingestor, const Clock& clock,
                    int64_t interval_ms);
  ~KpiHistorySampler();  // stops

  // Takes the last sample's time and counters from `store` (where measure() wrote them), so
  // the next sample counts from there. Before start().
  void restore(const tsdb::TimeSeriesStore& store);
  void start();  // samples at once, then every interval_ms
  void stop();   // joins; idempotent

  // The KPI points of the interval ending at `now_ms` (sampler thread, or tests). An error
  // when the catalog cannot be read.
  Result<std::shared_ptr<ReadingBatch>> measure(int64_t now_ms);

 private:
  struct Baseline {
    int64_t hour = 0;
    ActivityTotals totals;
  };
  void run();

  Catalog& catalog_;
  const DeviceStatusTracker& tracker_;
  const DeviceActivityLog& activity_;
  Ingestor& ingestor_;
  const Clock& clock_;
  const int64_t interval_ms_;
  int64_t last_ms_ = 0;                                 // the previous sample's time
  std::unordered_map<std::string, Baseline> baseline_;  // counters at the previous sample
  std::unordered_map<std::string, Baseline> written_;   // the counters last written as baseline
  bool restored_ = false;                               // last_ms_ is from before a restart

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace fp
