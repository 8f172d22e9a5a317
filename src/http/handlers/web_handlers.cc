// The browser side: the dashboard at / (its hashed assets under /assets/), the API reference
// at /docs (Swagger UI, its files under /docs/) and the OpenAPI document at
// /api/v1/openapi.json. All public: with auth on, the
// dashboard asks for an API key and sends it with every API call.
//
// The two HTML pages carry a Content-Security-Policy (scripts from this server only, plus the
// page's own inline scripts by their SHA-256; styles from this server and inline, which
// Leaflet, uPlot and Swagger UI set; images also from data: URLs and any tile server the map
// is pointed at; the dashboard's requests to this server only, the API reference's anywhere,
// as "Try it out" may target another server; no framing), and X-Frame-Options,
// Referrer-Policy. Every file is sent with X-Content-Type-Options: nosniff.

#include <openssl/evp.h>

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

// 'sha256-<base64>' of `text`, as a CSP source expression.
std::string csp_hash(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  const int n = EVP_EncodeBlock(b64, digest, static_cast<int>(length));
  return "'sha256-" + std::string(reinterpret_cast<const char*>(b64), static_cast<size_t>(n)) + "'";
}

// The hashes of the inline <tag> blocks of `html` (scripts with a src= are not inline).
std::string inline_block_hashes(std::string_view html, std::string_view tag) {
  const std::string open = "<" + std::string(tag);
  const std::string close = "</" + std::string(tag) + ">";
  std::string out;
  for (size_t at = html.find(open); at != std::string_view::npos; at = html.find(open, at)) {
    const size_t start_end = html.find('>', at);
    if (start_end == std::string_view::npos) break;
    const std::string_view start_tag = html.substr(at, start_end - at);
    const size_t end = html.find(close, start_end);
    if (end == std::string_view::npos) break;
    if (start_tag.find(" src=") == std::string_view::npos)
      out += " " + csp_hash(html.substr(start_end + 1, end - start_end - 1));
    at = end + close.size();
  }
  return out;
}

// The Content-Security-Policy of an embedded HTML page that may send requests to
// `connect_src`.
std::string content_security_policy(std::string_view html, std::string_view connect_src) {
  return "default-src 'self'; script-src 'self'" + inline_block_hashes(html, "script") +
         "; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: https: http:; "
         "font-src 'self' data:; connect-src " +
         std::string(connect_src) +
         "; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
}

// An HTML page with its security headers (the policy is computed once per page).
void serve_page(std::string_view path, std::string_view connect_src, const Responder& respond) {
  static std::mutex mu;
  static std::map<std::string, std::string, std::less<>> policies;  // guarded by mu
  const web::EmbeddedFile* f = web::find_embedded_file(path);
  if (!f) return respond(error_response(404, "not_found", "no such file: " + std::string(path)));
  Response r = file_response(*f, "no-cache");
  {
    std::lock_guard lock(mu);
    auto it = policies.find(path);
    if (it == policies.end())
      it = policies.emplace(std::string(path), content_security_policy(f->data, connect_src)).first;
    r.headers.emplace_back("Content-Security-Policy", it->second);
  }
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Referrer-Policy", "strict-origin-when-cross-origin");
  respond(std::move(r));
}

// Built once, on the first request, when every branch's routes are in the router.
struct OpenApiCache {
  std::once_flag once;
  std::string json;
};

}  // namespace

void add_web_routes(Router& r, ApiContext&) {
  r.add(Method::kGet, "/", Access::kPublic,
        [](RequestContext&, Responder respond) { serve_page("/index.html", "'self'", respond); });
  r.add(Method::kGet, "/assets/{file}", Access::kPublic, [](RequestContext& rc, Responder respond) {
    // Vite names assets by content hash: they never change under the same name.
    serve_file("/assets/" + rc.params.get("file"), "public, max-age=31536000, immutable", respond);
  });
  r.add(Method::kGet, "/docs", Access::kPublic, [](RequestContext&, Responder respond) {
    serve_page("/docs.html", "'self' http: https:", respond);
  });
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
