#pragma once
// ClusterNode: one fleetpulse node of a cluster (serve --cluster), wired from the parts in
// this folder. Start() connects to NATS (retrying for a while, then a clear error), checks the
// cluster's partition count (kept in the "fleetpulse_cluster" KV bucket, written by the first
// node), creates the partition streams, takes its first lease round (refusing a node id that
// another live node uses) and starts three threads: the lease thread (lease rounds only, so
// nothing else can delay a renew), the takeover thread (after each round: ownership changes,
// then starting or stopping the partition consumers of PartitionApplier and saving the
// checkpoint) and the lag thread (stream last sequences). write_path() is what the transports
// get instead of the local Ingestor.
//
// Thread safety: the accessors from any thread.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ingest/ingestor.h"
#include "ingest/write_path.h"
#include "metrics/registry.h"
#include "util/result.h"

namespace fp::cluster {

struct ClusterNodeOptions {
  std::vector<std::string> nats;  // nats://host:port
  std::string node_id;
  std::string advertise;  // this node's HTTP base URL, as other nodes reach it
  uint32_t partitions = 16;
  int replicas = 3;
  std::string data_dir;           // the applied checkpoint goes to <data_dir>/cluster/applied
  int64_t lease_ttl_ms = 20'000;  // the lease bucket's TTL
  int64_t round_ms = 1'000;       // lease round
  int64_t publish_timeout_ms = 5'000;
  int64_t stream_max_age_ms = 0;    // 0 = keep forever (first version: raw retention)
  int64_t connect_for_ms = 15'000;  // how long Start() retries an unreachable NATS
  // Called on the takeover thread (never the lease thread: it may wait seconds, e.g. on the
  // alert bucket, without delaying a renew) when partitions start or stop being served here,
  // after the lost ones' consumers stopped and before the gained ones' consumers start; the
  // first call reports every partition not served as lost (the node starts with all its
  // catalog's devices). A partition lost and taken again between two calls is reported lost
  // in one call, then gained in the next. May be empty.
  std::function<void(const std::vector<uint32_t>& gained, const std::vector<uint32_t>& lost)>
      on_ownership_change;
  // Applies a device change of a served partition to this node's catalog and tracker
  // (device_apply.h, idempotent). Called on a consumer thread. May be empty (changes skipped).
  std::function<Status(const DeviceChange&)> apply_device;
};

// One partition as GET /api/v1/cluster shows it.
struct PartitionView {
  uint32_t id = 0;
  std::string owner;  // empty: no owner right now
  uint64_t last_seq = 0;
  uint64_t applied_seq = 0;  // this node's (0 when it never applied the partition)
  bool served_here = false;
};

struct NodeView {
  std::string id;
  std::string advertise;
  std::vector<uint32_t> partitions;
};

class ClusterNode {
 public:
  static Result<std::unique_ptr<ClusterNode>> Start(const ClusterNodeOptions& options,
                                                    Ingestor& ingestor);
  ~ClusterNode();
  ClusterNode(const ClusterNode&) = delete;
  ClusterNode& operator=(const ClusterNode&) = delete;

  WritePath& write_path();
  // Stops the lease thread and the consumers (leases then expire after the TTL).
  void Stop();

  const ClusterNodeOptions& options() const;
  bool nats_connected() const;
  std::string nats_connected_url() const;
  std::vector<uint32_t> served() const;
  // Whether this node serves the partition of `device_id` now (its lease has not passed).
  bool serves_device(std::string_view device_id) const;
  // The latest view from the lease thread (refreshed every round).
  std::vector<NodeView> nodes() const;
  std::vector<PartitionView> partitions() const;
  uint64_t lease_changes() const;
  uint64_t shares_published() const;
  uint64_t shares_refused() const;
  uint64_t shares_damaged() const;

  // GET /api/v1/cluster (API.md "Cluster").
  std::string ClusterJson() const;
  // The "nats" component of /api/v1/health/detailed.
  std::string HealthJson() const;
  // Per-partition lag, lease changes, shares and the NATS connection, for /metrics.
  void WriteMetrics(metrics::ExpositionWriter& w) const;

 private:
  struct Impl;
  explicit ClusterNode(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fp::cluster
