#pragma once
// A carried alert: an open alert of a partition as its owner writes it to the
// "fleetpulse_alerts" bucket, so that the partition's next owner continues it (alert_carry.h).
// JSON with the alert's own fields (times in ms) and its cluster-wide id (ClusterAlertId: the
// next owner keeps it, so the id a client was given stays valid across a failover). Rule
// alerts and manual alerts (no rule) alike. The bucket is input from the network: the decoder
// checks every field and refuses what it does not understand.

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "model/alert.h"
#include "util/result.h"

namespace fp::cluster {

// {"id"?,"rule_id","device_id","severity","state","message","value"?,"started_at",
//  "condition_at","acknowledged_at"?,"acknowledged_by","note","updated_at","version"}
// "id" is written when the alert has one (> 0).
std::string EncodeCarriedAlert(const Alert& a);
// kInvalidArgument for anything but an open alert in the form above: a rule alert (its "id"
// may be missing: entries written before ids were carried; id 0 then), or a manual alert
// (empty rule_id) with an id.
Result<Alert> DecodeCarriedAlert(std::string_view json);

// The bucket key of an alert of `rule_id` for `device_id` in `partition`:
// `a.<partition>.<hex rule id>.<hex device id>` (one open alert per rule and device).
std::string CarriedAlertKey(uint32_t partition, std::string_view rule_id,
                            std::string_view device_id);
// The bucket key of `a` in `partition`: the key above for a rule alert; for a manual alert
// (no rule, several may be open per device) `a.<partition>.m.<decimal id>` ("m" is not hex,
// so it never equals a rule alert's key).
std::string CarriedAlertKey(uint32_t partition, const Alert& a);

// Cluster-wide alert ids. Every owner numbers the alerts of a device in partition p as
// `k * partitions + p`, so any node finds an alert's owner from its id alone (its partition's
// owner) and a new owner keeps the carried id. `k` comes from ClusterAlertIds (time-based, so
// owners one after the other do not reuse it). Ids below `partitions` are never cluster ids.
uint32_t PartitionOfAlertId(int64_t id, uint32_t partitions);

// Hands out the `k` of cluster alert ids: max(previous + 1, now_ms * 16), so ids grow with
// time, stay unique on one node, and a later owner of a partition (its clock at most a few
// seconds behind, at most 16 alerts a millisecond on average) does not reuse an earlier
// owner's. Thread-safe.
class ClusterAlertIds {
 public:
  explicit ClusterAlertIds(uint32_t partitions) : partitions_(partitions) {}
  // The id of a new alert of a device in `partition` at wall time `now_ms`.
  int64_t Next(uint32_t partition, int64_t now_ms);

 private:
  const uint32_t partitions_;
  std::atomic<int64_t> last_k_{0};
};

}  // namespace fp::cluster
