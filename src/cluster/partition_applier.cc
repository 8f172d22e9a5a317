#include "cluster/partition_applier.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "cluster/cluster_write_path.h"
#include "cluster/share_codec.h"

namespace fp::cluster {
namespace {
// Shares handed to the Ingestor and not yet acknowledged, per partition, before the consumer
// waits (back-pressure onto the stream's flow control instead of the Ingestor's queue limit).
constexpr size_t kMaxInflight = 2'000;

int64_t SteadyMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

void RunAll(const std::vector<std::function<void()>>& fs) {
  for (const auto& f : fs) f();
}
}  // namespace

PartitionApplier::PartitionApplier(natsConnection* nc, Ingestor& ingestor,
                                   const LeaseKeeper& keeper, std::string checkpoint_path,
                                   uint32_t partitions, DeviceSink apply_device)
    : nc_(nc),
      ingestor_(ingestor),
      keeper_(keeper),
      apply_device_(std::move(apply_device)),
      checkpoint_path_(std::move(checkpoint_path)),
      partitions_(partitions) {}

PartitionApplier::~PartitionApplier() {
  StopAll();
  if (js_ != nullptr) jsCtx_Destroy(js_);
}

Status PartitionApplier::Open() {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(checkpoint_path_).parent_path(), ec);
  auto loaded = LoadCheckpoint(checkpoint_path_, partitions_);
  if (!loaded.ok() || loaded->partitions != partitions_) {
    spdlog::warn(
        "event=cluster_checkpoint_ignored path={} reason=\"{}\" (partitions replay from the "
        "start of their streams)",
        checkpoint_path_, loaded.ok() ? "another partition count" : loaded.status().message());
    std::filesystem::rename(checkpoint_path_, checkpoint_path_ + ".damaged", ec);
    saved_ = AppliedCheckpoint{partitions_, {}};
  } else {
    saved_ = std::move(*loaded);
  }
  for (uint32_t p = 0; p < partitions_; ++p) {
    auto part = std::make_shared<Part>();
    part->owner = this;
    part->partition = p;
    if (auto it = saved_.applied.find(p); it != saved_.applied.end()) part->applied = it->second;
    parts_.push_back(std::move(part));
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = 5'000;
  natsStatus s = natsConnection_JetStream(&js_, nc_, &jo);
  if (s != NATS_OK)
    return Status::Unavailable(std::string("JetStream context: ") + natsStatus_GetText(s));
  return Status::Ok();
}

void PartitionApplier::OnMsg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* sub = static_cast<Subscription*>(closure);
  jsMsgMetaData* meta = nullptr;
  if (natsMsg_GetMetaData(&meta, msg) != NATS_OK) {
    natsMsg_Destroy(msg);
    return;
  }
  const uint64_t seq = meta->Sequence.Stream;
  jsMsgMetaData_Destroy(meta);
  sub->part->owner->Apply(*sub->part, sub->generation, seq, msg);
}

void PartitionApplier::Apply(Part& part, uint64_t generation, uint64_t seq, natsMsg* msg) {
  if (!part.active || part.failed || !keeper_.Serving(part.partition)) {
    part.failed = true;  // the next Reconcile stops (or restarts) this consumer
    natsMsg_Destroy(msg);
    return;
  }
  {
    std::unique_lock lock(part.mu);
    // A stopped consumer's late callback, or a redelivery after an ordered-consumer reset.
    if (part.generation != generation || seq <= part.submitted) {
      natsMsg_Destroy(msg);
      return;
    }
    while (part.inflight.size() >= kMaxInflight && part.active && !part.failed &&
           part.generation == generation)
      part.cv.wait_for(lock, std::chrono::milliseconds(100));
    // Stopped (or stopped and restarted) while waiting: this message belongs to the old
    // consumer; the new one delivers it again from the applied mark.
    if (!part.active || part.failed || part.generation != generation || seq <= part.submitted) {
      natsMsg_Destroy(msg);
      return;
    }
    part.submitted = seq;
    part.inflight.insert(seq);
  }
  auto share = DecodeShare(
      std::string_view(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg))));
  natsMsg_Destroy(msg);
  std::shared_ptr<Part> keep = parts_[part.partition];
  // Completes `seq`: on success it leaves the in-flight set and the applied mark moves up to
  // just below the oldest share still in flight.
  auto finish = [keep, seq, generation](bool ok) {
    std::vector<std::function<void()>> ready;
    {
      std::lock_guard lock(keep->mu);
      if (keep->generation != generation) return;  // the consumer was restarted meanwhile
      if (!ok) {
        keep->failed = true;
        keep->cv.notify_all();
        return;
      }
      keep->inflight.erase(seq);
      const uint64_t mark = keep->inflight.empty() ? keep->submitted : *keep->inflight.begin() - 1;
      if (mark > keep->applied) keep->applied = mark;
      keep->cv.notify_all();
      if (!keep->waiters.empty()) ready = TakeWaiters(*keep, false, SteadyMs());
    }
    RunAll(ready);
  };
  if (!share.ok()) {
    damaged_.fetch_add(1);
    spdlog::error("event=cluster_share_damaged partition={} seq={} reason=\"{}\"", part.partition,
                  seq, share.status().message());
    return finish(true);  // can never apply: skip it (counted in /metrics)
  }
  switch (share->kind) {
    case ShareKind::kTelemetry:
      ingestor_.submit_telemetry(std::move(share->batch), share->received_ms,
                                 [finish](TelemetryAck ack) { finish(ack.status.ok()); });
      break;
    case ShareKind::kHeartbeat:
      ingestor_.submit_heartbeat(std::move(share->heartbeat), [finish](HeartbeatAck ack) {
        // An unknown device with auto-registration off can never apply: not a failure.
        finish(ack.status.ok() || ack.status.code() == StatusCode::kNotFound);
      });
      break;
    case ShareKind::kRemoval:
      ingestor_.submit_removal(std::move(share->removed), share->with_data,
                               [finish](Status s) { finish(s.ok()); });
      break;
    case ShareKind::kDevice: {
      // In stream order with the Ingestor's work: wait until every earlier share is applied
      // (a removal before a re-registration, a registration before an update).
      {
        std::unique_lock lock(part.mu);
        while (part.active && !part.failed && part.generation == generation &&
               !part.inflight.empty() && *part.inflight.begin() != seq)
          part.cv.wait_for(lock, std::chrono::milliseconds(100));
        if (!part.active || part.failed || part.generation != generation) return;
      }
      Status s = apply_device_ ? apply_device_(share->device) : Status::Ok();
      if (!s.ok() && s.code() != StatusCode::kNotFound)
        spdlog::warn("event=cluster_device_apply_failed partition={} seq={} reason=\"{}\"",
                     part.partition, seq, s.message());
      finish(s.ok() || s.code() == StatusCode::kNotFound);
      break;
    }
  }
}

void PartitionApplier::Start(Part& part) {
  auto closure = std::make_unique<Subscription>();
  closure->part = &part;
  {
    std::lock_guard lock(part.mu);
    closure->generation = ++part.generation;
    part.inflight.clear();
    part.submitted = part.applied;
  }
  part.failed = false;
  part.active = true;
  const std::string stream = StreamName(part.partition);
  const std::string subject = SubjectName(part.partition);
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream.c_str();
  so.Ordered = true;
  if (part.applied > 0) {
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = part.applied + 1;
  } else {
    so.Config.DeliverPolicy = js_DeliverAll;
  }
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_Subscribe(&part.sub, js_, subject.c_str(), &PartitionApplier::OnMsg,
                              closure.get(), nullptr, &so, &code);
  part.closures.push_back(std::move(closure));
  if (s != NATS_OK) {
    part.active = false;
    part.sub = nullptr;
    spdlog::warn("event=cluster_consumer_failed partition={} reason=\"{}\" code={}", part.partition,
                 natsStatus_GetText(s), static_cast<int>(code));
    return;
  }
  spdlog::info("event=cluster_partition_applying partition={} from_seq={}", part.partition,
               part.applied.load() + 1);
}

void PartitionApplier::Stop(Part& part) {
  part.active = false;
  std::vector<std::function<void()>> waiting;
  {
    std::lock_guard lock(part.mu);
    ++part.generation;  // late callbacks and acknowledgements of this consumer count no more
    part.inflight.clear();
    waiting = TakeWaiters(part, true, 0);
  }
  part.cv.notify_all();
  RunAll(waiting);
  if (part.sub == nullptr) return;
  natsSubscription_Unsubscribe(part.sub);
  natsSubscription_Destroy(part.sub);
  part.sub = nullptr;
  spdlog::info("event=cluster_partition_stopped partition={} applied_seq={}", part.partition,
               part.applied.load());
}

void PartitionApplier::Reconcile(const std::vector<uint32_t>& served) {
  std::vector<bool> want(partitions_, false);
  for (uint32_t p : served)
    if (p < partitions_) want[p] = true;
  const int64_t now = SteadyMs();
  std::vector<Part*> starts;
  for (uint32_t p = 0; p < partitions_; ++p) {
    Part& part = *parts_[p];
    const bool running = part.sub != nullptr;
    if (running && (!want[p] || part.failed)) Stop(part);
    if (want[p] && part.sub == nullptr) starts.push_back(&part);
  }
  // In parallel: while JetStream elects a meta leader each consumer creation waits up to its
  // timeout (5 s), which in sequence made the k-th gained partition wait 5·k s.
  if (starts.size() == 1) Start(*starts[0]);
  if (starts.size() > 1) {
    std::vector<std::thread> threads;
    for (Part* part : starts) threads.emplace_back([this, part] { Start(*part); });
    for (auto& t : threads) t.join();
  }
  for (uint32_t p = 0; p < partitions_; ++p) {
    Part& part = *parts_[p];
    std::vector<std::function<void()>> expired;
    {
      std::lock_guard lock(part.mu);
      if (!part.waiters.empty()) expired = TakeWaiters(part, false, now);
    }
    RunAll(expired);
  }
  SaveIfMoved();
}

std::vector<std::function<void()>> PartitionApplier::TakeWaiters(Part& part, bool all,
                                                                 int64_t now_ms) {
  std::vector<std::function<void()>> ready;
  std::erase_if(part.waiters, [&](Part::Waiter& w) {
    if (!all && w.seq > part.applied && w.deadline_ms > now_ms) return false;
    ready.push_back(std::move(w.then));
    return true;
  });
  return ready;
}

void PartitionApplier::WhenApplied(uint32_t partition, uint64_t seq, int64_t timeout_ms,
                                   std::function<void()> then) {
  if (partition >= parts_.size()) return then();
  Part& part = *parts_[partition];
  {
    std::lock_guard lock(part.mu);
    if (part.active && !part.failed && part.applied < seq) {
      part.waiters.push_back({seq, SteadyMs() + timeout_ms, std::move(then)});
      return;
    }
  }
  then();
}

void PartitionApplier::SaveIfMoved() {
  AppliedCheckpoint next{partitions_, saved_.applied};
  for (const auto& part : parts_)
    if (part->applied > 0) next.applied[part->partition] = part->applied;
  if (next.applied == saved_.applied) return;
  if (Status s = SaveCheckpoint(checkpoint_path_, next); !s.ok()) {
    spdlog::warn("event=cluster_checkpoint_failed reason=\"{}\"", s.message());
    return;
  }
  saved_ = std::move(next);
}

void PartitionApplier::StopAll() {
  for (const auto& part : parts_) Stop(*part);
  if (!parts_.empty()) SaveIfMoved();
}

uint64_t PartitionApplier::Applied(uint32_t partition) const {
  return partition < parts_.size() ? parts_[partition]->applied.load() : 0;
}

bool PartitionApplier::Running(uint32_t partition) const {
  return partition < parts_.size() && parts_[partition]->active && !parts_[partition]->failed;
}

}  // namespace fp::cluster
