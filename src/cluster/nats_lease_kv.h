#pragma once
// NatsLeaseKv: LeaseKv over a JetStream key-value bucket with libnats 3.4 (Debian libnats-dev).
// Owns its own NATS connection. Uses only request/reply calls to the bucket stream's leader
// (KV create/update, STREAM.MSG.GET, STREAM.INFO): no consumers, and never the pull Fetch path,
// which has known bugs in libnats 3.4.
//
// The connection's reconnect buffer is one byte: a lease write made while the client is
// reconnecting fails at once instead of being queued and applied later, when its deadline
// arithmetic no longer holds.

#include <memory>
#include <string>
#include <vector>

#include "cluster/lease_kv.h"
#include "util/result.h"

namespace fp::cluster {

struct NatsLeaseKvOptions {
  std::vector<std::string> servers;  // nats://host:port, at least one
  std::string bucket = "fleetpulse_leases";
  int64_t ttl_ms = 20'000;     // the bucket's max age; checked against an existing bucket
  int replicas = 3;            // 1 or 3
  int64_t timeout_ms = 2'000;  // per KV request
};

class NatsLeaseKv final : public LeaseKv {
 public:
  // Connects and creates (or binds to) the bucket. kUnavailable when no server answers;
  // kInvalidArgument when an existing bucket has a different TTL.
  static Result<std::unique_ptr<NatsLeaseKv>> Open(const NatsLeaseKvOptions& options);
  ~NatsLeaseKv() override;
  NatsLeaseKv(const NatsLeaseKv&) = delete;
  NatsLeaseKv& operator=(const NatsLeaseKv&) = delete;

  Result<uint64_t> Create(const std::string& key, const std::string& value) override;
  Result<uint64_t> Update(const std::string& key, const std::string& value,
                          uint64_t expected_revision) override;
  Result<std::optional<KvEntry>> Get(const std::string& key) override;
  Result<std::vector<KvEntry>> List(const std::string& prefix) override;

 private:
  struct Handles;
  explicit NatsLeaseKv(std::unique_ptr<Handles> h, int64_t timeout_ms);
  std::unique_ptr<Handles> h_;
  int64_t timeout_ms_;
};

}  // namespace fp::cluster
