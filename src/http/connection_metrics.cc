#include "http/connection_metrics.h"

#include "util/open_files.h"

namespace fp::http {

void add_connection_collectors(metrics::Registry& registry, const HttpServer& server) {
  using metrics::Kind;
  registry.add_collector([&server](metrics::ExpositionWriter& w) {
    const HttpServerStats st = server.stats();
    w.header("fleetpulse_http_connection_cap",
             "Most HTTP(S) connections open at once: --http-max-connections, held to 3/4 of the "
             "open-files limit.",
             Kind::kGauge);
    w.sample("fleetpulse_http_connection_cap", {}, {}, static_cast<double>(st.connection_cap));
    w.header("fleetpulse_http_connections_refused_total",
             "HTTP(S) connections closed at accept because a cap was reached, by cap.",
             Kind::kCounter);
    w.sample("fleetpulse_http_connections_refused_total", {"reason"}, {"total_cap"},
             static_cast<double>(st.refused_total_cap));
    w.sample("fleetpulse_http_connections_refused_total", {"reason"}, {"address_cap"},
             static_cast<double>(st.refused_address_cap));
    w.header("fleetpulse_http_connections_evicted_total",
             "HTTP(S) connections without a request under way closed to make room for a new "
             "one at a cap.",
             Kind::kCounter);
    w.sample("fleetpulse_http_connections_evicted_total", {}, {},
             static_cast<double>(st.evicted_waiting));
    w.header("fleetpulse_http_timeouts_total",
             "HTTP(S) connections closed by a timeout, by what they were waiting for.",
             Kind::kCounter);
    w.sample("fleetpulse_http_timeouts_total", {"phase"}, {"header"},
             static_cast<double>(st.header_timeouts));
    w.sample("fleetpulse_http_timeouts_total", {"phase"}, {"body"},
             static_cast<double>(st.body_timeouts));
    w.sample("fleetpulse_http_timeouts_total", {"phase"}, {"idle"},
             static_cast<double>(st.idle_timeouts));
    w.header("fleetpulse_http_accept_errors_total",
             "Failed accepts (e.g. out of descriptors); each pauses accepting 50-500 ms.",
             Kind::kCounter);
    w.sample("fleetpulse_http_accept_errors_total", {}, {}, static_cast<double>(st.accept_errors));
    w.header("process_open_fds", "Number of open file descriptors.", Kind::kGauge);
    w.sample("process_open_fds", {}, {}, static_cast<double>(open_file_count()));
    w.header("process_max_fds", "Maximum number of open file descriptors.", Kind::kGauge);
    w.sample("process_max_fds", {}, {}, static_cast<double>(open_files_limit()));
  });
}

}  // namespace fp::http
