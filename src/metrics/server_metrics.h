#pragma once
// The metric families fleetpulse exports, declared in one place (names follow API.md).
// Series that are computed at scrape time (devices by status, per-device battery) are
// registered as collectors where their data lives (app/server.cc).

#include "metrics/registry.h"

namespace fp::metrics {

struct ServerMetrics {
  explicit ServerMetrics(Registry& r);

  Family<Counter>& heartbeats;          // fleetpulse_heartbeats_total
  Family<Counter>& points_ingested;     // fleetpulse_points_ingested_total{transport}
  Family<Counter>& ingest_rejected;     // fleetpulse_ingest_rejected_total{reason}
  Family<Counter>& status_transitions;  // fleetpulse_status_transitions_total{to}
  Family<Counter>& http_requests;       // fleetpulse_http_requests_total{method,route,code}
  Family<Histogram>& http_duration;     // fleetpulse_http_request_duration_seconds{method,route}
};

}  // namespace fp::metrics
