#pragma once
// The gathered export (GET /api/v1/export in cluster mode, docs/cluster.md "Export, live
// stream and /metrics, gathered"): every partition owner's own export (`fp_local=1`) is opened
// in parallel, then streamed to the client one owner after the other — lines of the
// partitions asked of that owner only, the CSV header once, the client's pace respected (the
// job waits while 2 MiB are queued, as the single-node export does). What is missing is said
// as the single-node export says it: `X-Fleetpulse-Partial: true` (+ reason, + the missing
// partitions) when known before the first byte, and for NDJSON a last line
// `{"partial":true,"partial_reason":...,"missing_partitions":[...]}`. An owner that stops
// sending for `idle_ms` mid-export is cut off and its partitions reported missing (NDJSON).
// Owners send their part chunked, so one killed mid-export (no last chunk) is told from one
// that finished: NDJSON says partial in the trailer; CSV, which cannot, ends this response
// without its last chunk (it is sent chunked too), so the client sees an incomplete body.
//
// Thread safety: RunGatheredExport() blocks its (gather job) thread for the whole export.

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "cluster/owner_http.h"
#include "http/http_types.h"

namespace fp::cluster {

struct ExportOwner {
  std::string node;
  std::vector<uint32_t> partitions;
  std::string host, port;  // empty: no usable advertise URL (its partitions are missing)
};

struct ExportGather {
  std::vector<ExportOwner> owners;
  std::vector<uint32_t> unowned;  // partitions without an owner in this node's view
  uint32_t partitions_total = 1;
  OwnerRequest base;  // the client's request, target already marked fp_local=1
  bool csv = false;
  int64_t open_timeout_ms = 2'500;
  int64_t idle_ms = 10'000;
};

void RunGatheredExport(const ExportGather& g, http::Responder respond,
                       const std::atomic<bool>& stop);

}  // namespace fp::cluster
