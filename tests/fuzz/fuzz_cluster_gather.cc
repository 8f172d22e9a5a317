// Fuzzes the merge of gathered fleet reads (src/cluster/gather_merge.h): owners' answers are
// JSON from other nodes. The input is split at the first 0xff byte into two owners' bodies and
// merged as every read kind; any bytes give an answer (possibly 503 or partial), never a crash,
// and a merged 200 answer is valid JSON.
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cluster/gather_merge.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const size_t cut = bytes.find('\xff');
  std::string first(bytes.substr(0, cut));
  std::string second(cut == std::string_view::npos ? "" : bytes.substr(cut + 1));
  using fp::cluster::GatherKind;
  for (GatherKind kind : {GatherKind::kDevices, GatherKind::kLatest, GatherKind::kAlerts,
                          GatherKind::kStats, GatherKind::kKpiSummary, GatherKind::kAggregates,
                          GatherKind::kPromQuery, GatherKind::kPromList}) {
    fp::cluster::GatherRequest req;
    req.kind = kind;
    req.partitions_total = 4;
    req.query = {{"limit", "3"}, {"query", "sum(x)"}, {"sort", "-last_seen"}};
    fp::cluster::OwnerAnswer a{"n1", {0, 1}, true, 200, "application/json", first};
    fp::cluster::OwnerAnswer b{"n2", {2, 3}, true, 200, "application/json", second};
    fp::cluster::GatherResponse r = fp::cluster::MergeGathered(req, {a, b});
    if (r.status == 200) {
      simdjson::dom::parser p;
      if (p.parse(r.body).error() != simdjson::SUCCESS) std::abort();
    }
  }
  return 0;
}
