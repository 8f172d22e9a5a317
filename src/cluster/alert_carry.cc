#include "cluster/alert_carry.h"

#include <nats/nats.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "alerting/alert_engine.h"
#include "cluster/carried_alert.h"
#include "cluster/nats_error.h"
#include "cluster/nats_kv_bucket.h"
#include "cluster/partition.h"

namespace fp::cluster {

constexpr const char* kBucket = "fleetpulse_alerts";

struct AlertCarry::Impl {
  AlertCarryOptions o;
  std::unique_ptr<NatsKvBucket> nats;
  kvStore* kv = nullptr;  // nats->kv
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Alert> queue;                        // guarded by mu
  std::function<bool(std::string_view)> serves;   // guarded by mu
  bool stopping = false;                          // guarded by mu
  std::chrono::steady_clock::time_point stop_by;  // guarded by mu
  std::atomic<uint64_t> written{0};
  std::atomic<bool> first_change{true};
  std::thread thread;
  std::unique_ptr<ClusterAlertIds> ids;
  // What the writer did with the last alerts it handled (bounded), for WaitWritten.
  struct Outcome {
    std::string key;
    int64_t version = 0;
    bool written = false;
  };
  std::deque<Outcome> outcomes;  // guarded by mu
  std::condition_variable outcome_cv;
  static constexpr size_t kMaxOutcomes = 4096;

  std::string KeyOf(const Alert& a) const {
    return CarriedAlertKey(PartitionOf(a.device_id, o.partitions), a);
  }

  bool Serves(const std::string& device) {
    std::lock_guard lock(mu);
    return serves && serves(device);
  }

  // One bucket write: the open alert, or the deletion of a resolved one.
  natsStatus Write(const Alert& a) {
    const std::string key = KeyOf(a);
    if (!a.open()) return kvStore_Delete(kv, key.c_str());
    const std::string value = EncodeCarriedAlert(a);
    uint64_t rev = 0;
    return kvStore_Put(&rev, kv, key.c_str(), value.data(), static_cast<int>(value.size()));
  }

  void Run() {
    std::unique_lock lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return stopping || !queue.empty(); });
      if (queue.empty() || (stopping && std::chrono::steady_clock::now() >= stop_by)) return;
      Alert a = queue.front();
      lock.unlock();
      bool done = true;
      bool ok = false;
      if (Serves(a.device_id)) {
        natsStatus s = Write(a);
        if (s == NATS_OK) {
          ++written;
          ok = true;
        } else {
          spdlog::warn("event=cluster_alert_carry_failed device={} rule={} reason=\"{}\"",
                       a.device_id, a.rule_id, NatsErrorText(s));
          done = false;  // retried while this node still serves the partition
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
      }
      lock.lock();
      if (done) {
        queue.pop_front();
        outcomes.push_back({KeyOf(a), a.version, ok});
        if (outcomes.size() > kMaxOutcomes) outcomes.pop_front();
        outcome_cv.notify_all();
      }
    }
  }

  // The open alerts under `a.<p>.>`, from a watcher's initial values.
  Status ReadPartition(uint32_t p, std::chrono::steady_clock::time_point until,
                       std::vector<Alert>& out) {
    kvWatchOptions wo;
    kvWatchOptions_Init(&wo);
    wo.IgnoreDeletes = true;
    kvWatcher* w = nullptr;
    const std::string filter = "a." + std::to_string(p) + ".>";
    natsStatus s = kvStore_Watch(&w, kv, filter.c_str(), &wo);
    if (s != NATS_OK) return Status::Unavailable("alert bucket watch: " + NatsErrorText(s));
    Status result = Status::Ok();
    for (;;) {
      const int64_t left = std::chrono::duration_cast<std::chrono::milliseconds>(
                               until - std::chrono::steady_clock::now())
                               .count();
      if (left <= 0) {
        result = Status::Unavailable("alert bucket: partition " + std::to_string(p) +
                                     " not read in time");
        break;
      }
      kvEntry* e = nullptr;
      s = kvWatcher_Next(&e, w, left);
      if (s != NATS_OK) {
        result = Status::Unavailable("alert bucket read: " + NatsErrorText(s));
        break;
      }
      if (e == nullptr) break;  // the end of the current values
      if (kvEntry_Operation(e) == kvOp_Put) {
        std::string_view v(static_cast<const char*>(kvEntry_Value(e)), kvEntry_ValueLen(e));
        auto a = DecodeCarriedAlert(v);
        if (a.ok())
          out.push_back(std::move(*a));
        else
          spdlog::warn("event=cluster_alert_carry_damaged key={} reason=\"{}\"", kvEntry_Key(e),
                       a.status().message());
      }
      kvEntry_Destroy(e);
    }
    kvWatcher_Stop(w);
    kvWatcher_Destroy(w);
    return result;
  }
};

AlertCarry::AlertCarry(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AlertCarry::~AlertCarry() {
  Stop();
}

Result<std::unique_ptr<AlertCarry>> AlertCarry::Start(const AlertCarryOptions& o) {
  auto impl = std::make_unique<Impl>();
  impl->o = o;
  auto bucket = NatsKvBucket::Open(o.nats, kBucket, o.replicas, "cluster alerts");
  if (!bucket.ok()) return bucket.status();
  impl->nats = std::move(*bucket);
  impl->kv = impl->nats->kv;
  impl->ids = std::make_unique<ClusterAlertIds>(o.partitions);
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->Run(); });
  return std::unique_ptr<AlertCarry>(new AlertCarry(std::move(impl)));
}

void AlertCarry::set_serves(std::function<bool(std::string_view)> serves) {
  std::lock_guard lock(impl_->mu);
  impl_->serves = std::move(serves);
}

void AlertCarry::Record(const Alert& a) {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->queue.push_back(a);
  }
  impl_->cv.notify_one();
}

Status AlertCarry::WaitWritten(const Alert& a, int64_t timeout_ms) {
  const std::string key = impl_->KeyOf(a);
  std::unique_lock lock(impl_->mu);
  std::optional<bool> written;
  impl_->outcome_cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] {
    for (auto it = impl_->outcomes.rbegin(); it != impl_->outcomes.rend(); ++it)
      if (it->key == key && it->version >= a.version) {
        written = it->written;
        return true;
      }
    return impl_->stopping;
  });
  if (written.value_or(false)) return Status::Ok();
  return Status::Unavailable(
      written ? "this node no longer owns the alert's partition; retry shortly"
              : "the cluster's alert bucket did not take the change in time; retry shortly");
}

int64_t AlertCarry::NewAlertId(std::string_view device_id, int64_t now_ms) {
  return impl_->ids->Next(PartitionOf(device_id, impl_->o.partitions), now_ms);
}

Result<std::vector<Alert>> AlertCarry::OpenAlerts(const std::vector<uint32_t>& partitions) {
  std::vector<Alert> out;
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(impl_->o.read_timeout_ms);
  for (uint32_t p : partitions) FP_RETURN_IF_ERROR(impl_->ReadPartition(p, until, out));
  return out;
}

void AlertCarry::OnOwnershipChange(AlertEngine& engine, const std::vector<uint32_t>& gained,
                                   const std::vector<uint32_t>& lost) {
  const uint32_t n = impl_->o.partitions;
  std::vector<bool> adopt(n, false);
  for (uint32_t p : gained)
    if (p < n) adopt[p] = true;
  if (impl_->first_change.exchange(false)) {
    adopt.assign(n, true);
    for (uint32_t p : lost)
      if (p < n) adopt[p] = false;
  }
  std::vector<uint32_t> partitions;
  for (uint32_t p = 0; p < n; ++p)
    if (adopt[p]) partitions.push_back(p);
  if (partitions.empty()) return;
  auto open = OpenAlerts(partitions);
  if (!open.ok()) {
    spdlog::warn("event=cluster_alert_adopt_failed partitions={} reason=\"{}\"", partitions.size(),
                 open.status().message());
    return;
  }
  engine.adopt([&](const std::string& d) { return adopt[PartitionOf(d, n)]; }, *open);
  spdlog::info("event=cluster_alerts_adopted partitions={} open={}", partitions.size(),
               open->size());
}

void AlertCarry::Stop(int64_t timeout_ms) {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
    impl_->stop_by = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  }
  impl_->cv.notify_all();
  impl_->outcome_cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

uint64_t AlertCarry::written() const {
  return impl_->written.load();
}

}  // namespace fp::cluster
