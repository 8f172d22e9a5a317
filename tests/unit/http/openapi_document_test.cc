// openapi_for_routes: the served document keeps exactly the registered operations, matches
// paths whatever their placeholders are called, and names every registered route the
// document does not describe (what keeps the route-documentation test honest).
#include "http/handlers/openapi_document.h"

#include <gtest/gtest.h>
#include <simdjson.h>

namespace fp::http {
namespace {

constexpr std::string_view kDoc = R"({
  "openapi": "3.0.3",
  "info": {"title": "t", "version": "1"},
  "paths": {
    "/api/v1/devices": {"get": {"summary": "list"}, "post": {"summary": "create"}},
    "/api/v1/devices/{device_id}/latest": {"parameters": [], "get": {"summary": "latest"}},
    "/api/v1/rules": {"get": {"summary": "not registered here"}}
  },
  "components": {"schemas": {}}
})";

Router router_with(std::initializer_list<std::pair<Method, const char*>> routes) {
  Router r;
  for (const auto& [m, p] : routes) r.add(m, p, Access::kRead, [](RequestContext&, Responder) {});
  return r;
}

simdjson::dom::element parse(simdjson::dom::parser& parser, const std::string& json) {
  simdjson::dom::element doc;
  EXPECT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
  return doc;
}

TEST(OpenApiDocument, KeepsOnlyRegisteredOperationsWhateverThePlaceholderNames) {
  Router r = router_with(
      {{Method::kGet, "/api/v1/devices"}, {Method::kGet, "/api/v1/devices/{id}/latest"}});
  OpenApiView view = openapi_for_routes(kDoc, r.routes());
  EXPECT_TRUE(view.undocumented_routes.empty());
  simdjson::dom::parser parser;
  auto doc = parse(parser, view.json);
  auto paths = doc["paths"];
  EXPECT_FALSE(paths["/api/v1/devices"]["get"].error());
  EXPECT_TRUE(paths["/api/v1/devices"]["post"].error());  // not registered
  EXPECT_FALSE(paths["/api/v1/devices/{device_id}/latest"]["get"].error());
  EXPECT_FALSE(paths["/api/v1/devices/{device_id}/latest"]["parameters"].error());
  EXPECT_TRUE(paths["/api/v1/rules"].error());  // no operation left: the path goes
  EXPECT_EQ(std::string_view(doc["openapi"].get_string().value()), "3.0.3");
  EXPECT_FALSE(doc["components"]["schemas"].error());
  EXPECT_EQ(doc["x-undocumented-routes"].get_array().size(), 0u);
}

TEST(OpenApiDocument, NamesRegisteredRoutesTheDocumentDoesNotDescribe) {
  Router r = router_with({{Method::kGet, "/api/v1/devices"},
                          {Method::kDelete, "/api/v1/devices"},
                          {Method::kGet, "/api/v1/secret/{x}"}});
  OpenApiView view = openapi_for_routes(kDoc, r.routes());
  EXPECT_EQ(view.undocumented_routes,
            (std::vector<std::string>{"DELETE /api/v1/devices", "GET /api/v1/secret/{x}"}));
  simdjson::dom::parser parser;
  auto listed = parse(parser, view.json)["x-undocumented-routes"].get_array();
  ASSERT_FALSE(listed.error());
  EXPECT_EQ(listed.size(), 2u);
}

TEST(OpenApiDocument, AnInvalidDocumentGivesAnErrorObject) {
  Router r = router_with({{Method::kGet, "/x"}});
  OpenApiView view = openapi_for_routes("{not json", r.routes());
  simdjson::dom::parser parser;
  EXPECT_FALSE(parse(parser, view.json)["error"]["code"].error());
}

}  // namespace
}  // namespace fp::http
