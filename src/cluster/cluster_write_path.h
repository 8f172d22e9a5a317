#pragma once
// ClusterWritePath: the cluster side of the WritePath seam (ingest/write_path.h). A request is
// split by partition (share_codec.h); each share is published asynchronously to its
// partition's stream (subject fp.p.<P>, stream fp_p<P>) with a Nats-Msg-Id derived from the
// share's content, so a retried request (through any node) inside the stream's duplicate
// window is stored once. The request is answered when every share is acknowledged by
// JetStream — ok — or as soon as one is refused or not acknowledged within the timeout:
// kUnavailable (HTTP 503 + Retry-After, MQTT no PUBACK), never a success.
//
// Thread safety: submit_* from any thread; `done` runs on a libnats thread or the timeout
// thread and must not block.

#include <nats/nats.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "ingest/write_path.h"

namespace fp::cluster {

struct WritePathStats {
  uint64_t published = 0;  // shares acknowledged by JetStream
  uint64_t refused = 0;    // shares refused or timed out
  uint64_t pending = 0;    // shares waiting for an ack
};

std::string StreamName(uint32_t partition);   // "fp_p<P>"
std::string SubjectName(uint32_t partition);  // "fp.p.<P>"

class ClusterWritePath final : public WritePath {
 public:
  // `nc` must outlive this object. `timeout_ms`: longest wait for a JetStream ack.
  static Result<std::unique_ptr<ClusterWritePath>> Create(natsConnection* nc, uint32_t partitions,
                                                          int64_t timeout_ms);
  ~ClusterWritePath() override;

  void submit_heartbeat(HeartbeatReport report, std::function<void(HeartbeatAck)> done) override;
  void submit_telemetry(std::shared_ptr<ReadingBatch> batch, int64_t received_ms,
                        std::function<void(TelemetryAck)> done) override;
  void submit_removal(std::optional<std::string> device, bool with_data,
                      std::function<void(Status)> done) override;
  // A device change: one share of kind 'D' to the device's partition, answered once it is
  // acknowledged by JetStream AND the applied waiter (below) says this node applied it.
  void submit_device_change(DeviceChange change, std::function<void(Status)> done) override;

  // Runs `then` once the stream sequence `seq` of `partition` is applied on this node (or
  // cannot be waited for: not served here, bounded wait). Set once, before the first write.
  using AppliedWaiter =
      std::function<void(uint32_t partition, uint64_t seq, std::function<void()> then)>;
  void set_applied_waiter(AppliedWaiter waiter);

  WritePathStats stats() const;

 private:
  struct Group;
  struct Entry {
    std::shared_ptr<Group> group;
    int64_t deadline_ms;
  };
  ClusterWritePath(uint32_t partitions, int64_t timeout_ms);
  // Publishes each (partition, payload) of `shares` for one request; `done` gets the outcome.
  // `content_id`: give each share a Nats-Msg-Id from its content (retries are stored once).
  // `done` gets the outcome and, on success, the highest stream sequence of the shares.
  void publish(std::vector<std::pair<uint32_t, std::string>> shares,
               std::function<void(Status, uint64_t)> done, bool content_id = true);
  static void OnAck(jsCtx* js, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure);
  void expire_loop();

  const uint32_t partitions_;
  const int64_t timeout_ms_;
  jsCtx* js_ = nullptr;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Entry> pending_;  // guarded by mu_: request tag -> waiting group
  uint64_t next_tag_ = 1;              // guarded by mu_
  bool stopping_ = false;              // guarded by mu_
  std::thread expirer_;
  AppliedWaiter applied_waiter_;  // set before the first write
  std::atomic<uint64_t> published_{0}, refused_{0};
};

}  // namespace fp::cluster
