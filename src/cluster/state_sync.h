#pragma once
// StateSync: the cluster-wide state — alert rules, API keys and device tokens — kept in the
// JetStream key-value bucket "fleetpulse_state" (file storage, --replicas, history 1, no TTL)
// and mirrored into every node's own catalog and in-memory authenticators / alert engine.
//
// One thread per node: it watches the bucket (every current value first, then each change)
// and applies what differs from what it last synced; every `poll_ms` it lists the node's own
// rules, keys and tokens and publishes what changed locally (created, updated, revoked; a
// deleted rule as a tombstone {"deleted":true}). Handlers therefore stay as they are: a change
// made through any node's API is in the bucket within one poll and in force on every node
// within about a second. Concurrent changes of one item on two nodes: the bucket's last write
// wins everywhere. The seeded --admin-key is per node and never synced.
//
// Survives: the bucket is the cluster's copy (replicated by JetStream); each node's catalog
// keeps what it applied, so a node that restarts has the state at once and catches up from
// the watcher.
//
// Thread safety: Start/Stop from one thread; the rest runs on the sync thread.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "util/result.h"

namespace fp {
class Catalog;
class ApiKeyAuthenticator;
class DeviceTokenAuthenticator;
class AlertEngine;
}  // namespace fp

namespace fp::cluster {

struct StateSyncOptions {
  std::vector<std::string> nats;
  int replicas = 3;
  int64_t poll_ms = 250;
};

struct StateSyncTargets {
  Catalog& catalog;
  ApiKeyAuthenticator& keys;
  DeviceTokenAuthenticator* tokens = nullptr;  // may be null
  AlertEngine* alerts = nullptr;               // may be null
};

class StateSync {
 public:
  // Connects, opens (or creates) the bucket, applies its current content, publishes what only
  // this node has, then keeps syncing on its own thread.
  static Result<std::unique_ptr<StateSync>> Start(const StateSyncOptions& o,
                                                  StateSyncTargets targets);
  ~StateSync();
  void Stop();
  // The cluster's secret for forwarded session writes (session_assertion.h): 32 random bytes
  // (hex) created once in the bucket (key `secret.forward`, by create, never updated) by the
  // first node, read by the others at Start. Constant after Start.
  const std::string& forward_secret() const;

  struct Impl;

 private:
  explicit StateSync(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fp::cluster
