#include "cluster/cluster_write_path.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "cluster/partition.h"
#include "cluster/share_codec.h"

namespace fp::cluster {
namespace {

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

constexpr const char* kTagHeader = "Fp-Tag";

// The message id of a share: its kind, partition and FNV-1a 64 of its bytes. Equal shares are
// equal writes (same series + timestamp + value, or the same heartbeat at the same receive
// time), so storing one of two equal shares loses nothing.
std::string MessageId(uint32_t partition, const std::string& payload) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%u-%016llx-%zu", partition,
                static_cast<unsigned long long>(Fnv1a64(payload)), payload.size());
  return buf;
}

}  // namespace

std::string StreamName(uint32_t partition) {
  return "fp_p" + std::to_string(partition);
}
std::string SubjectName(uint32_t partition) {
  return "fp.p." + std::to_string(partition);
}

// One request: answered once, when the last share is acked or at the first failure.
struct ClusterWritePath::Group {
  std::atomic<size_t> remaining{0};
  std::atomic<bool> answered{false};
  std::atomic<uint64_t> last_seq{0};  // the highest stream sequence acknowledged
  std::function<void(Status, uint64_t)> done;
  void fail(const std::string& why) {
    if (!answered.exchange(true)) done(Status::Unavailable("cluster write not stored: " + why), 0);
  }
  void acked(uint64_t seq) {
    uint64_t seen = last_seq.load();
    while (seq > seen && !last_seq.compare_exchange_weak(seen, seq)) {
    }
    if (remaining.fetch_sub(1) == 1 && !answered.exchange(true)) done(Status::Ok(), last_seq);
  }
};

ClusterWritePath::ClusterWritePath(uint32_t partitions, int64_t timeout_ms)
    : partitions_(partitions), timeout_ms_(timeout_ms) {}

Result<std::unique_ptr<ClusterWritePath>> ClusterWritePath::Create(natsConnection* nc,
                                                                   uint32_t partitions,
                                                                   int64_t timeout_ms) {
  std::unique_ptr<ClusterWritePath> w(new ClusterWritePath(partitions, timeout_ms));
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = timeout_ms;
  jo.PublishAsync.MaxPending = 1'000'000;
  jo.PublishAsync.StallWait = 100;
  jo.PublishAsync.AckHandler = &ClusterWritePath::OnAck;
  jo.PublishAsync.AckHandlerClosure = w.get();
  natsStatus s = natsConnection_JetStream(&w->js_, nc, &jo);
  if (s != NATS_OK)
    return Status::Unavailable(std::string("JetStream context: ") + natsStatus_GetText(s));
  w->expirer_ = std::thread([p = w.get()] { p->expire_loop(); });
  return w;
}

ClusterWritePath::~ClusterWritePath() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (expirer_.joinable()) expirer_.join();
  std::map<uint64_t, Entry> left;
  {
    std::lock_guard lock(mu_);
    left.swap(pending_);
  }
  for (auto& [tag, e] : left) e.group->fail("node stopping");
  if (js_ != nullptr) jsCtx_Destroy(js_);
}

void ClusterWritePath::OnAck(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
  auto* self = static_cast<ClusterWritePath*>(closure);
  const char* tag_text = nullptr;
  std::shared_ptr<Group> group;
  if (natsMsgHeader_Get(msg, kTagHeader, &tag_text) == NATS_OK && tag_text != nullptr) {
    const uint64_t tag = std::strtoull(tag_text, nullptr, 10);
    std::lock_guard lock(self->mu_);
    auto it = self->pending_.find(tag);
    if (it != self->pending_.end()) {
      group = std::move(it->second.group);
      self->pending_.erase(it);
    }
  }
  natsMsg_Destroy(msg);
  if (!group) return;  // already timed out and answered
  if (pa != nullptr && pae == nullptr) {
    self->published_.fetch_add(1, std::memory_order_relaxed);
    group->acked(pa->Sequence);
  } else {
    self->refused_.fetch_add(1, std::memory_order_relaxed);
    group->fail(pae != nullptr && pae->ErrText != nullptr ? pae->ErrText
                                                          : "JetStream refused the write");
  }
}

void ClusterWritePath::expire_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(100));
    const int64_t now = NowMs();
    std::vector<std::shared_ptr<Group>> expired;
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.deadline_ms <= now) {
        expired.push_back(std::move(it->second.group));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    if (expired.empty()) continue;
    lock.unlock();
    refused_.fetch_add(expired.size(), std::memory_order_relaxed);
    for (auto& g : expired) g->fail("no JetStream acknowledgement in time");
    lock.lock();
  }
}

void ClusterWritePath::publish(std::vector<std::pair<uint32_t, std::string>> shares,
                               std::function<void(Status, uint64_t)> done, bool content_id) {
  auto group = std::make_shared<Group>();
  group->done = std::move(done);
  if (shares.empty()) {
    group->answered = true;
    return group->done(Status::Ok(), 0);
  }
  group->remaining = shares.size();
  const int64_t deadline = NowMs() + timeout_ms_;
  for (auto& [partition, payload] : shares) {
    if (group->answered) return;
    uint64_t tag = 0;
    {
      std::lock_guard lock(mu_);
      tag = next_tag_++;
      pending_.emplace(tag, Entry{group, deadline});
    }
    const std::string subject = SubjectName(partition);
    natsMsg* msg = nullptr;
    natsStatus s = natsMsg_Create(&msg, subject.c_str(), nullptr, payload.data(),
                                  static_cast<int>(payload.size()));
    if (s == NATS_OK && content_id)
      s = natsMsgHeader_Set(msg, "Nats-Msg-Id", MessageId(partition, payload).c_str());
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, kTagHeader, std::to_string(tag).c_str());
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.ExpectStream = nullptr;
    if (s == NATS_OK) s = js_PublishMsgAsync(js_, &msg, &po);
    natsMsg_Destroy(msg);  // no-op when the library took it
    if (s != NATS_OK) {
      {
        std::lock_guard lock(mu_);
        pending_.erase(tag);
      }
      refused_.fetch_add(1, std::memory_order_relaxed);
      group->fail(std::string("publish failed: ") + natsStatus_GetText(s));
      return;
    }
  }
}

void ClusterWritePath::submit_heartbeat(HeartbeatReport report,
                                        std::function<void(HeartbeatAck)> done) {
  const uint32_t p = PartitionOf(report.device_id, partitions_);
  const int64_t seen = report.received_ms;
  std::vector<std::pair<uint32_t, std::string>> shares;
  shares.emplace_back(p, EncodeHeartbeat(report));
  publish(std::move(shares), [seen, done = std::move(done)](Status s, uint64_t) {
    // The owner applies it later; once applied the device is online, seen at receive time.
    HeartbeatAck ack;
    ack.status = std::move(s);
    if (ack.status.ok()) {
      ack.device_status = DeviceStatus::kOnline;
      ack.last_seen_ms = seen;
    }
    done(std::move(ack));
  });
}

void ClusterWritePath::submit_telemetry(std::shared_ptr<ReadingBatch> batch, int64_t received_ms,
                                        std::function<void(TelemetryAck)> done) {
  std::vector<std::pair<uint32_t, std::string>> shares;
  for (auto& [p, share] : SplitByPartition(*batch, partitions_))
    shares.emplace_back(p, EncodeTelemetry(*share, received_ms));
  publish(std::move(shares),
          [done = std::move(done)](Status s, uint64_t) { done(TelemetryAck{std::move(s)}); });
}

void ClusterWritePath::submit_removal(std::optional<std::string> device, bool with_data,
                                      std::function<void(Status)> done) {
  std::vector<std::pair<uint32_t, std::string>> shares;
  const std::string payload = EncodeRemoval(device, with_data);
  if (device) {
    shares.emplace_back(PartitionOf(*device, partitions_), payload);
  } else {
    for (uint32_t p = 0; p < partitions_; ++p) shares.emplace_back(p, payload);
  }
  // No content id: removing the same device again later is a new request, not a retry.
  publish(
      std::move(shares), [done = std::move(done)](Status s, uint64_t) { done(std::move(s)); },
      false);
}

void ClusterWritePath::set_applied_waiter(AppliedWaiter waiter) {
  applied_waiter_ = std::move(waiter);
}

void ClusterWritePath::submit_device_change(DeviceChange change, std::function<void(Status)> done) {
  const uint32_t p = PartitionOf(change.device_id, partitions_);
  std::vector<std::pair<uint32_t, std::string>> shares;
  shares.emplace_back(p, EncodeDeviceChange(change));
  // No content id: the change carries its time, so a retry is a new (equal-result) write.
  publish(
      std::move(shares),
      [this, p, done = std::move(done)](Status s, uint64_t seq) mutable {
        if (!s.ok() || !applied_waiter_) return done(std::move(s));
        // Durable; answer once this node's consumer has applied it (readable everywhere).
        applied_waiter_(p, seq, [done = std::move(done)] { done(Status::Ok()); });
      },
      false);
}

WritePathStats ClusterWritePath::stats() const {
  WritePathStats s;
  s.published = published_.load();
  s.refused = refused_.load();
  {
    std::lock_guard lock(mu_);
    s.pending = pending_.size();
  }
  return s;
}

}  // namespace fp::cluster
