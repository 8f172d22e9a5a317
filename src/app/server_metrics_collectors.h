#pragma once
// Scrape-time series: devices by status, per-device battery and signal (capped), open alerts,
// storage sizes, queue depth, connections and process figures.

#include <functional>
#include <string>

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
};

void add_server_collectors(metrics::Registry& registry, CollectorSources sources);

}  // namespace fp
