#pragma once
// The body of GET /api/v1/stats, also sent as the live stream's `stats` event.

#include <string>

#include "http/handlers/api_context.h"

namespace fp::http {

std::string stats_json(ApiContext& ctx);

}  // namespace fp::http
