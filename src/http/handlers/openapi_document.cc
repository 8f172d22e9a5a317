#include "http/handlers/openapi_document.h"

#include <simdjson.h>

#include <algorithm>
#include <set>

#include "util/json_writer.h"

namespace fp::http {
namespace {

// "/api/v1/devices/{id}/latest" and "/api/v1/devices/{device_id}/latest" are the same path.
std::string path_shape(std::string_view pattern) {
  std::string out;
  bool in_param = false;
  for (char c : pattern) {
    if (c == '{') {
      in_param = true;
      out += "{}";
    } else if (c == '}') {
      in_param = false;
    } else if (!in_param) {
      out += c;
    }
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool is_operation_key(std::string_view k) {
  return k == "get" || k == "put" || k == "post" || k == "delete" || k == "patch" || k == "head" ||
         k == "options";
}

}  // namespace

OpenApiView openapi_for_routes(std::string_view document, const std::vector<Route>& routes) {
  std::set<std::string> registered;  // "get /api/v1/devices/{}"
  for (const Route& r : routes)
    registered.insert(lower(to_string(r.method)) + " " + path_shape(r.pattern));

  OpenApiView view;
  simdjson::dom::parser parser;
  simdjson::dom::object doc;
  if (parser.parse(document.data(), document.size()).get(doc)) {
    view.json =
        R"({"error":{"code":"internal","message":"the embedded OpenAPI document is invalid"}})";
    return view;
  }
  std::set<std::string> documented;
  JsonWriter w;
  w.begin_object();
  for (auto [key, value] : doc) {
    if (key != "paths") {
      w.key(key).raw(simdjson::minify(value));
      continue;
    }
    w.key("paths").begin_object();
    simdjson::dom::object paths;
    if (value.get_object().get(paths)) continue;
    for (auto [path, item] : paths) {
      simdjson::dom::object ops;
      if (item.get_object().get(ops)) continue;
      const std::string shape = path_shape(path);
      JsonWriter kept;
      kept.begin_object();
      bool any = false;
      for (auto [method, op] : ops) {
        if (!is_operation_key(method)) {
          kept.key(method).raw(simdjson::minify(op));
          continue;
        }
        const std::string id = std::string(method) + " " + shape;
        documented.insert(id);
        if (!registered.count(id)) continue;
        kept.key(method).raw(simdjson::minify(op));
        any = true;
      }
      kept.end_object();
      if (any) w.key(path).raw(kept.str());
    }
    w.end_object();
  }
  for (const Route& r : routes) {
    const std::string id = lower(to_string(r.method)) + " " + path_shape(r.pattern);
    if (!documented.count(id))
      view.undocumented_routes.push_back(std::string(to_string(r.method)) + " " + r.pattern);
  }
  w.key("x-undocumented-routes").begin_array();
  for (const auto& r : view.undocumented_routes) w.value(r);
  w.end_array();
  w.end_object();
  view.json = w.take();
  return view;
}

}  // namespace fp::http
