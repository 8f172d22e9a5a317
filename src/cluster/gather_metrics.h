#pragma once
// /metrics in cluster mode, gathered (docs/cluster.md "Export, live stream and /metrics,
// gathered"): every node's own exposition (`fp_local=1`) merged into one, each sample with a
// `node` label naming the node it came from (kept as is when the sample already has one), each
// family's HELP and TYPE once, followed by the samples of every node. A node that does not
// answer is reported by `fleetpulse_cluster_gather_missing_node{node="..."} 1` and
// `fleetpulse_cluster_gather_partial 1` (0 when every node answered), never silently left out.
// Scraping every node with `?fp_local=1` gives each node's own figures (node label included).
//
// Pure function, no I/O: unit-tested in tests/unit/cluster/gather_merge_test.cc.

#include <vector>

#include "cluster/gather_merge.h"

namespace fp::cluster {

GatherResponse MergeMetrics(const GatherRequest& req, const std::vector<OwnerAnswer>& answers);

// One sample line of the text exposition with `node="<node>"` added to its labels (unchanged
// when it has a node label already).
std::string WithNodeLabel(std::string_view line, std::string_view node);

}  // namespace fp::cluster
