#pragma once
// run_server: `fleetpulse serve`. Opens storage, starts the commit path, the status tracker
// and the HTTP server, then waits for SIGTERM or SIGINT and shuts down in order: stop
// accepting, drain in-flight requests, commit what is queued, close storage. Returns the
// process exit code (0 after a clean shutdown).
//
// The caller must have blocked SIGTERM and SIGINT in every thread (see main.cc).

#include "app/config.h"

namespace fp {

int run_server(const ServerConfig& config);

}  // namespace fp
