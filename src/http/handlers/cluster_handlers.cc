// GET /api/v1/cluster (API.md "Cluster"): this node's view of the cluster — nodes, partition
// owners, stream and applied sequences, NATS connections — or {"mode":"single"}.

#include "http/handlers/routes.h"

namespace fp::http {

void add_cluster_routes(Router& r, ApiContext& ctx) {
  r.add(Method::kGet, "/api/v1/cluster", Access::kRead, [&ctx](RequestContext&, Responder respond) {
    respond(Response::json(200, ctx.cluster_json ? ctx.cluster_json() : R"({"mode":"single"})"));
  });
}

}  // namespace fp::http
