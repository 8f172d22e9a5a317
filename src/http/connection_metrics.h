#pragma once
// Scrape-time series of the HTTP server's defences (connections refused at a cap, timeouts by
// phase, accept errors) and of the process's descriptor budget they protect.

#include "http/server.h"
#include "metrics/registry.h"

namespace fp::http {

// Registers a collector for `server`, which must outlive the registry's scrapes:
// fleetpulse_http_connection_cap, fleetpulse_http_connections_refused_total{reason},
// fleetpulse_http_connections_evicted_total,
// fleetpulse_http_timeouts_total{phase}, fleetpulse_http_accept_errors_total,
// process_open_fds and process_max_fds.
void add_connection_collectors(metrics::Registry& registry, const HttpServer& server);

}  // namespace fp::http
