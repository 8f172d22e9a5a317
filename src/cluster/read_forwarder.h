#pragma once
// ReadForwarder: in cluster mode a device's data lives on its partition's owner, so a read of
// one device (GET /api/v1/devices/{id} and everything below it) that reaches another node is
// forwarded over HTTP to the owner's --advertise URL and its answer passed back unchanged
// (with the client's Authorization and Cookie headers). Device registrations and updates
// (POST /api/v1/devices, PUT / PATCH /api/v1/devices/{id}) and removals (DELETE
// /api/v1/devices/{id}) go to the owner the same way, with their body: it answers 409 / 404 from
// its catalog and publishes the change through the stream (docs/cluster.md "Device
// registrations and updates"). Fleet reads go to FleetGather
// (fleet_gather.h), which asks every owner and merges.
// No owner right now, an owner that does not answer within the timeout, or too many forwards
// at once: 503 + Retry-After, never a hang and never another node's partial view. A forwarded
// request carries the query parameter fp_forwarded=1 and is never forwarded again (views of
// ownership may differ for a moment during a move).
//
// Thread safety: MaybeForward() from any thread; forwards run on their own threads.

#include <cstdint>
#include <memory>

#include "cluster/cluster_node.h"
#include "cluster/fleet_gather.h"
#include "cluster/forward_auth.h"
#include "http/http_types.h"
#include "util/background_jobs.h"

namespace fp::cluster {

class ReadForwarder {
 public:
  // `node` (and `keys`, `sessions` when given: see forward_auth.h) must outlive the forwarder.
  // `assertion_secret`: the cluster's secret for forwarded session writes (forward_auth.h).
  ReadForwarder(const ClusterNode& node, int64_t timeout_ms, ApiKeyAuthenticator* keys = nullptr,
                SessionStore* sessions = nullptr, size_t max_concurrent = 64,
                std::string assertion_secret = {});
  ~ReadForwarder();

  // True when the request was taken (forwarded, or answered 503); false: serve it locally.
  bool MaybeForward(const http::Request& req, http::Responder& respond);
  // The PromQL limits of queries evaluated here over gathered series (FleetGather). Before serving.
  void SetPromqlLimits(const promql::QueryLimits& l) { gather_.SetPromqlLimits(l); }

 private:
  const ClusterNode& node_;
  const int64_t timeout_ms_;
  BackgroundJobs jobs_;
  ForwardAuth auth_;
  FleetGather gather_;
};

}  // namespace fp::cluster
