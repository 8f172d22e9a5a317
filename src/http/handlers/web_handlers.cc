// The browser side: the dashboard at / (its hashed assets under /assets/), the API reference
// at /docs (Swagger UI, its files under /docs/) and the OpenAPI document at
// /api/v1/openapi.json. All public: with auth on, the
// dashboard asks for an API key and sends it with every API call.

#include <memory>
#include <mutex>

#include "http/handlers/openapi_document.h"
#include "http/handlers/routes.h"
#include "web/embedded_files.h"

namespace fp::http {
namespace {

Response file_response(const web::EmbeddedFile& f, std::string_view cache_control) {
  Response r;
  r.content_type = std::string(web::content_type_for(f.path));
  r.body = std::string(f.data);
  r.headers.emplace_back("Cache-Control", std::string(cache_control));
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return r;
}

void serve_file(std::string_view path, std::string_view cache_control, const Responder& respond) {
  const web::EmbeddedFile* f = web::find_embedded_file(path);
  if (!f) return respond(error_response(404, "not_found", "no such file: " + std::string(path)));
  respond(file_response(*f, cache_control));
}

// Built once, on the first request, when every branch's routes are in the router.
struct OpenApiCache {
  std::once_flag once;
  std::string json;
};

}  // namespace

void add_web_routes(Router& r, ApiContext&) {
  r.add(Method::kGet, "/", Access::kPublic,
        [](RequestContext&, Responder respond) { serve_file("/index.html", "no-cache", respond); });
  r.add(Method::kGet, "/assets/{file}", Access::kPublic, [](RequestContext& rc, Responder respond) {
    // Vite names assets by content hash: they never change under the same name.
    serve_file("/assets/" + rc.params.get("file"), "public, max-age=31536000, immutable", respond);
  });
  r.add(Method::kGet, "/docs", Access::kPublic,
        [](RequestContext&, Responder respond) { serve_file("/docs.html", "no-cache", respond); });
  // Swagger UI's bundle and stylesheet, embedded gzip-compressed (src/web/CMakeLists.txt) and
  // sent as they are: every browser takes Content-Encoding: gzip.
  r.add(Method::kGet, "/docs/{file}", Access::kPublic, [](RequestContext& rc, Responder respond) {
    const std::string path = "/docs/" + rc.params.get("file");
    const web::EmbeddedFile* f = web::find_embedded_file(path + ".gz");
    if (!f) return respond(error_response(404, "not_found", "no such file: " + path));
    Response res = file_response(*f, "public, max-age=86400");
    res.content_type = std::string(web::content_type_for(path));
    res.headers.emplace_back("Content-Encoding", "gzip");
    res.headers.emplace_back("Vary", "Accept-Encoding");
    respond(std::move(res));
  });
  auto cache = std::make_shared<OpenApiCache>();
  const Router& router = r;
  r.add(Method::kGet, "/api/v1/openapi.json", Access::kPublic,
        [cache, &router](RequestContext&, Responder respond) {
          std::call_once(cache->once, [&] {
            const web::EmbeddedFile* f = web::find_embedded_file("/openapi.json");
            cache->json =
                openapi_for_routes(f ? f->data : std::string_view("{}"), router.routes()).json;
          });
          Response res = Response::json(200, cache->json);
          res.headers.emplace_back("Cache-Control", "no-cache");
          respond(std::move(res));
        });
}

}  // namespace fp::http
