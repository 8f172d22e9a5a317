#pragma once
// Scrape-time series: devices by status, per-device battery and signal (capped), open alerts,
// storage sizes, queue depth, connections and process figures.

#include <array>
#include <cstdint>
#include <functional>
#include <string>

#include "alerting/alert_engine.h"
#include "alerting/webhook_notifier.h"
#include "ingest/ingestor.h"
#include "metrics/registry.h"
#include "monitor/device_status_tracker.h"
#include "storage/tsdb/time_series_store.h"

namespace fp {

struct CollectorSources {
  const DeviceStatusTracker& tracker;
  const Ingestor& ingestor;
  const tsdb::TimeSeriesStore& store;
  std::string data_dir;
  size_t device_cap = 1000;
  std::function<size_t()> open_connections;
  // Open alerts per severity (info, warning, critical); null: none reported.
  std::function<std::array<int64_t, 3>()> open_alerts;
};

void add_server_collectors(metrics::Registry& registry, CollectorSources sources);

// Webhook deliveries by outcome, deliveries waiting, and alert evaluations dropped because
// the engine's queue was full. Both objects must outlive the registry's scrapes.
void add_alerting_collectors(metrics::Registry& registry, const AlertEngine& alerts,
                             const WebhookNotifier& notifier);

}  // namespace fp
