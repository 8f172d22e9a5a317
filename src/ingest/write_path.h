#pragma once
// WritePath: where transports send what they decoded — the one fork between single-node and
// cluster mode. HTTP handlers and the MQTT server call it for telemetry, heartbeats, device
// registrations, updates and removals; they never know which mode runs.
//
// - Single node: LocalWritePath hands everything to the local Ingestor (the commit path:
//   WAL group commit, then the answer). Nothing else changes.
// - Cluster: cluster::ClusterWritePath (src/cluster) splits a request by partition, publishes
//   each share to its JetStream stream and answers once every share is acknowledged; the
//   partition's owner later applies the shares to its own Ingestor (docs/cluster.md).
//
// Contract of every implementation: `done` runs exactly once, on some internal thread, and
// must not block; success means the write survives kill -9 of this process (single node: in
// the WAL; cluster: replicated by JetStream). Thread safety: any thread.

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "ingest/heartbeat.h"
#include "ingest/ingestor.h"
#include "model/reading_batch.h"
#include "util/result.h"

namespace fp {

class WritePath {
 public:
  virtual ~WritePath() = default;
  // A decoded heartbeat. kOverloaded / kIoError / kNotFound (unknown device, auto-registration
  // off) / kUnavailable (cluster: JetStream could not take it) on failure.
  virtual void submit_heartbeat(HeartbeatReport report, std::function<void(HeartbeatAck)> done) = 0;
  // A decoded telemetry batch (taken over). Same failures as above.
  virtual void submit_telemetry(std::shared_ptr<ReadingBatch> batch, int64_t received_ms,
                                std::function<void(TelemetryAck)> done) = 0;
  // A device removed (or all devices, with nullopt); `with_data` removes its telemetry too.
  virtual void submit_removal(std::optional<std::string> device, bool with_data,
                              std::function<void(Status)> done) = 0;
  // A device registered (POST) or updated (PUT / PATCH), validated by the handler. ok once the
  // change is durable AND applied to this node's catalog and tracker (so the handler reads the
  // row back and a read through any node sees it). Single node: kAlreadyExists (create of an id
  // that exists) / kNotFound (update of a missing id). Cluster: kUnavailable when JetStream
  // could not take it; the owner applies it idempotently (Catalog::apply_device_change).
  virtual void submit_device_change(DeviceChange change, std::function<void(Status)> done) = 0;
};

// Single-node mode: straight to the local Ingestor (one virtual call more than before); device
// changes to `apply_device` (the catalog's create_device / update_device and the tracker).
class LocalWritePath final : public WritePath {
 public:
  using DeviceApply = std::function<Status(const DeviceChange&)>;
  LocalWritePath(Ingestor& ingestor, DeviceApply apply_device)
      : ingestor_(ingestor), apply_device_(std::move(apply_device)) {}
  void submit_heartbeat(HeartbeatReport report, std::function<void(HeartbeatAck)> done) override {
    ingestor_.submit_heartbeat(std::move(report), std::move(done));
  }
  void submit_telemetry(std::shared_ptr<ReadingBatch> batch, int64_t received_ms,
                        std::function<void(TelemetryAck)> done) override {
    ingestor_.submit_telemetry(std::move(batch), received_ms, std::move(done));
  }
  void submit_removal(std::optional<std::string> device, bool with_data,
                      std::function<void(Status)> done) override {
    ingestor_.submit_removal(std::move(device), with_data, std::move(done));
  }
  void submit_device_change(DeviceChange change, std::function<void(Status)> done) override {
    done(apply_device_(change));
  }

 private:
  Ingestor& ingestor_;
  DeviceApply apply_device_;
};

}  // namespace fp
