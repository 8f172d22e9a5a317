#pragma once
// Merging of fleet reads gathered from every partition owner (docs/cluster.md "Fleet reads").
// A gathering node asks each owner for its local answer to the same request and merges the
// answers here: lists (devices, latest, alerts) are filtered to the partitions asked of each
// owner, merged in the API's order and cut to the limit; counts (stats) are added; KPI
// summaries are combined weighted by device count; fleet aggregates merge buckets; Prometheus
// answers merge series (added for an outer sum/count, min/max for min/max, else concatenated).
// Partitions whose owner gave no usable answer are reported: `"partial":true` and
// `"missing_partitions":[...]` (Prometheus answers: a `warnings` entry as well).
//
// Pure functions, no I/O: unit-tested in tests/unit/cluster/gather_merge_test.cc.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fp::cluster {

enum class GatherKind {
  kNone,        // not a fleet read: served locally (or forwarded as one device's read)
  kDevices,     // GET /api/v1/devices
  kLatest,      // GET /api/v1/latest
  kAlerts,      // GET /api/v1/alerts, /api/v1/alerts/recent
  kStats,       // GET /api/v1/stats
  kKpiSummary,  // GET /api/v1/kpis/summary
  kAggregates,  // GET /api/v1/aggregates
  kPromQuery,   // /prometheus/api/v1/query, query_range
  kPromList,    // /prometheus/api/v1/series, labels, label/{name}/values
  kMetrics,     // GET /metrics: every node's, with a node label (gather_metrics.h)
};

// Which merge a request path needs; kNone for anything that is not gathered.
GatherKind GatherKindOf(std::string_view path);

// One owner's local answer to the gathered request.
struct OwnerAnswer {
  std::string node;
  std::vector<uint32_t> partitions;  // the partitions this owner was asked for
  bool answered = false;             // false: timeout or connection failure
  int status = 0;
  std::string content_type;
  std::string body;
};

struct GatherRequest {
  GatherKind kind = GatherKind::kNone;
  uint32_t partitions_total = 1;
  std::map<std::string, std::string, std::less<>> query;  // the client's query parameters
  std::vector<uint32_t> unowned;                          // partitions with no owner now
};

struct GatherResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<uint32_t> missing;  // sorted partitions not covered by the answer
};

// Merges the owners' answers. An owner that did not answer or answered 5xx makes its
// partitions missing. A 4xx from an owner (the request itself is wrong) is passed back as is.
// When no owner answered at all: 503 in the API's error shape.
GatherResponse MergeGathered(const GatherRequest& req, const std::vector<OwnerAnswer>& answers);

}  // namespace fp::cluster
