#pragma once
// The compatibility routes (see README.md and docs/compatibility.md), all in one place.

#include "http/handlers/api_context.h"
#include "http/router.h"

namespace fp::compat {

// Adds the stacks' device routes and InfluxDB's write API to `r`. Must run after
// http::add_all_routes: it reuses the native heartbeat handlers, takes the place of the
// native `/write`, and wraps `GET /health` (InfluxDB clients get InfluxDB's answer there).
// `ctx` must outlive the router.
void add_compat_routes(http::Router& r, http::ApiContext& ctx);

}  // namespace fp::compat
