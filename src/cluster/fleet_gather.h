#pragma once
// FleetGather: in cluster mode a fleet read (device list, latest, alerts, stats, KPI summary,
// fleet aggregates, Prometheus queries, /metrics; gather_merge.h lists them; the export,
// gather_export.h, and the live stream, gather_sse.h) is asked of every partition
// owner — this node included, over its own --advertise URL — with the query parameter
// fp_local=1, which makes the owner answer from its own engine. The answers are merged
// (gather_merge.h); an owner that does not answer within the timeout makes its partitions
// `missing` ("partial":true), never a hang.
//
// Thread safety: MaybeGather() from any thread; the gathering runs on its own threads.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cluster/cluster_node.h"
#include "cluster/forward_auth.h"
#include "cluster/gather_merge.h"
#include "cluster/gather_promql_raw.h"
#include "cluster/gather_sse.h"
#include "cluster/owner_http.h"
#include "http/http_types.h"
#include "promql/series_source.h"
#include "util/background_jobs.h"

namespace fp::cluster {

class FleetGather {
 public:
  // `node` and `auth` must outlive the gatherer. `timeout_ms` bounds each owner's answer.
  FleetGather(const ClusterNode& node, int64_t timeout_ms, const ForwardAuth* auth,
              size_t max_concurrent = 32);
  ~FleetGather();

  // True when the request was taken (gathered, or answered 503); false: serve it locally
  // (not a fleet read, or already an owner's local part of a gather).
  bool MaybeGather(const http::Request& req, http::Responder& respond);

  // The PromQL limits of a query evaluated here over gathered raw series (the same as a
  // single node's: --promql-max-series, --promql-max-points). Before serving.
  void SetPromqlLimits(const promql::QueryLimits& limits) { promql_limits_ = limits; }

 private:
  // PromQL not exact as a merge: every owner's raw series of each selection, evaluated once.
  bool GatherPromRaw(std::shared_ptr<const RawQuery> q, const GatherRequest& g,
                     const std::map<std::string, std::vector<uint32_t>>& by_owner,
                     const std::map<std::string, std::string>& advertise, const OwnerRequest& base,
                     http::Responder& respond);

  bool GatherExport(const http::Request& req, const GatherRequest& g,
                    const std::map<std::string, std::vector<uint32_t>>& by_owner,
                    const std::map<std::string, std::string>& advertise, const OwnerRequest& base,
                    http::Responder& respond);

  const ClusterNode& node_;
  const int64_t timeout_ms_;
  const ForwardAuth* auth_;
  promql::QueryLimits promql_limits_;
  BackgroundJobs jobs_;
  SseRelay relay_;  // last: its threads end before the rest goes
};

}  // namespace fp::cluster
