// Fuzzes the reduction of an OpenAPI document to the registered routes: any bytes give a JSON
// document (or an error object), never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/handlers/openapi_document.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fp::http::Router* router = [] {
    auto* r = new fp::http::Router;
    auto noop = [](fp::http::RequestContext&, fp::http::Responder) {};
    r->add(fp::http::Method::kGet, "/api/v1/devices", fp::http::Access::kRead, noop);
    r->add(fp::http::Method::kPost, "/api/v1/devices/{id}/heartbeat", fp::http::Access::kWrite,
           noop);
    return r;
  }();
  std::string_view doc(reinterpret_cast<const char*>(data), size);
  auto view = fp::http::openapi_for_routes(doc, router->routes());
  if (view.json.empty()) __builtin_trap();
  return 0;
}
