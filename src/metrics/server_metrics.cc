#include "metrics/server_metrics.h"

namespace fp::metrics {

ServerMetrics::ServerMetrics(Registry& r)
    : heartbeats(r.counter("fleetpulse_heartbeats_total", "Heartbeats accepted and stored.")),
      points_ingested(r.counter("fleetpulse_points_ingested_total",
                                "Telemetry values stored, by transport.", {"transport"})),
      ingest_rejected(r.counter("fleetpulse_ingest_rejected_total",
                                "Reports or readings refused, by reason.", {"reason"})),
      status_transitions(r.counter("fleetpulse_status_transitions_total",
                                   "Device status changes, by new status.", {"to"})),
      http_requests(r.counter("fleetpulse_http_requests_total",
                              "HTTP requests answered, by method, route and status code.",
                              {"method", "route", "code"})),
      http_duration(r.histogram("fleetpulse_http_request_duration_seconds",
                                "Time from a request being read to its response being ready.",
                                latency_buckets(), {"method", "route"})) {
  heartbeats.get();
  for (const char* t : {"http", "mqtt"}) points_ingested.with({t});
}

}  // namespace fp::metrics
