#pragma once
// The OpenAPI document as this server serves it: the embedded, hand-written description
// (src/web/openapi.json) reduced to the operations the router really has, so clients (the
// dashboard among them) can tell which features this build offers. Registered routes the
// document does not describe are listed under "x-undocumented-routes" (a test keeps it empty).

#include <string>
#include <string_view>
#include <vector>

#include "http/router.h"

namespace fp::http {

struct OpenApiView {
  std::string json;                              // the document to serve
  std::vector<std::string> undocumented_routes;  // "GET /api/v1/x" registered, not described
};

// `document` is the full OpenAPI JSON; an unparsable document yields an error object.
OpenApiView openapi_for_routes(std::string_view document, const std::vector<Route>& routes);

}  // namespace fp::http
