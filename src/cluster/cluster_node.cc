#include "cluster/cluster_node.h"

#include <nats/nats.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "cluster/cluster_write_path.h"
#include "cluster/lease_keeper.h"
#include "cluster/nats_error.h"
#include "cluster/nats_lease_kv.h"
#include "cluster/partition.h"
#include "cluster/partition_applier.h"
#include "cluster/steady_clock.h"
#include "metrics/registry.h"
#include "util/json_writer.h"

namespace fp::cluster {
namespace {

std::string Joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

// Retries `open` until it succeeds, fails with something other than kUnavailable, or
// `for_ms` passed.
template <typename F>
auto Retrying(const ClusterNodeOptions& o, const char* what, F open) -> decltype(open()) {
  SteadyClock clock;
  const int64_t until = clock.now_ms() + o.connect_for_ms;
  for (int attempt = 1;; ++attempt) {
    auto r = open();
    if (r.ok() || r.status().code() != StatusCode::kUnavailable || clock.now_ms() >= until)
      return r;
    spdlog::warn("event=cluster_nats_retry what={} attempt={} servers={} reason=\"{}\"", what,
                 attempt, Joined(o.nats), r.status().message());
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace

struct ClusterNode::Impl {
  ClusterNodeOptions options;
  SteadyClock clock;
  std::unique_ptr<NatsLeaseKv> leases;
  std::unique_ptr<NatsLeaseKv> cluster_kv;
  natsOptions* nopts = nullptr;
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;  // stream info (lag)
  std::unique_ptr<ClusterWritePath> writes;
  std::unique_ptr<LeaseKeeper> keeper;
  std::unique_ptr<PartitionApplier> applier;
  std::thread thread;           // lease rounds only: nothing on it may wait on other buckets
  std::thread takeover_thread;  // ownership changes (alert adoption), consumers, checkpoint
  std::thread lag_thread;       // stream last sequences for lag
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;           // guarded by mu
  uint64_t rounds_done = 0;        // guarded by mu: lease rounds finished (wakes the takeover)
  std::vector<uint64_t> last_seq;  // guarded by mu: [partition] stream last sequence
  std::atomic<bool> id_conflict{false};

  ~Impl() {
    writes.reset();  // first: its acks may still ask the applier (set_applied_waiter)
    applier.reset();
    if (js != nullptr) jsCtx_Destroy(js);
    if (nc != nullptr) natsConnection_Destroy(nc);
    if (nopts != nullptr) natsOptions_Destroy(nopts);
  }

  Status Connect() {
    std::vector<const char*> urls;
    for (const auto& s : options.nats) urls.push_back(s.c_str());
    natsStatus s = natsOptions_Create(&nopts);
    if (s == NATS_OK) s = natsOptions_SetServers(nopts, urls.data(), static_cast<int>(urls.size()));
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(nopts, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(nopts, 250);
    if (s == NATS_OK) s = natsOptions_SetTimeout(nopts, 2'000);
    if (s != NATS_OK) return Status::Internal("NATS options: " + NatsErrorText(s));
    s = natsConnection_Connect(&nc, nopts);
    if (s != NATS_OK) return Status::Unavailable("cannot connect to NATS: " + NatsErrorText(s));
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 5'000;
    s = natsConnection_JetStream(&js, nc, &jo);
    if (s != NATS_OK) return Status::Unavailable("JetStream context: " + NatsErrorText(s));
    return Status::Ok();
  }

  // Creates the partition streams that do not exist yet.
  Status EnsureStreams() {
    for (uint32_t p = 0; p < options.partitions; ++p) {
      const std::string name = StreamName(p);
      jsStreamInfo* si = nullptr;
      jsErrCode code = static_cast<jsErrCode>(0);
      natsStatus s = js_GetStreamInfo(&si, js, name.c_str(), nullptr, &code);
      if (s == NATS_OK) {
        jsStreamInfo_Destroy(si);
        continue;
      }
      const std::string subject = SubjectName(p);
      const char* subjects[] = {subject.c_str()};
      jsStreamConfig cfg;
      jsStreamConfig_Init(&cfg);
      cfg.Name = name.c_str();
      cfg.Subjects = subjects;
      cfg.SubjectsLen = 1;
      cfg.Storage = js_FileStorage;
      cfg.Replicas = options.replicas;
      cfg.MaxAge = options.stream_max_age_ms * 1'000'000;
      cfg.Duplicates = 120LL * 1'000'000'000;  // the msg-id window: 2 min
      s = js_AddStream(&si, js, &cfg, nullptr, &code);
      if (s == NATS_OK) {
        jsStreamInfo_Destroy(si);
        continue;
      }
      if (code == JSStreamNameExistErr) continue;  // another node created it meanwhile
      return Status::Unavailable("cannot create stream " + name + ": " + NatsErrorText(s));
    }
    return Status::Ok();
  }

  // The partition count is fixed when the cluster is created: the first node stores it.
  Status CheckPartitions() {
    const std::string value = std::to_string(options.partitions);
    auto created = cluster_kv->Create("partitions", value);
    if (created.ok()) return Status::Ok();
    if (created.status().code() != StatusCode::kAlreadyExists) return created.status();
    auto existing = cluster_kv->Get("partitions");
    if (!existing.ok()) return existing.status();
    if (*existing && (*existing)->value != value)
      return Status::InvalidArgument("the cluster was created with " + (*existing)->value +
                                     " partitions but this node has --partitions " + value +
                                     " (the partition count never changes)");
    return Status::Ok();
  }

  void RefreshLastSeq() {
    std::vector<uint64_t> seqs(options.partitions, 0);
    for (uint32_t p = 0; p < options.partitions; ++p) {
      jsStreamInfo* si = nullptr;
      jsOptions jo;
      jsOptions_Init(&jo);
      jo.Wait = 1'000;
      if (js_GetStreamInfo(&si, js, StreamName(p).c_str(), &jo, nullptr) == NATS_OK) {
        seqs[p] = si->State.LastSeq;
        jsStreamInfo_Destroy(si);
      } else {
        std::lock_guard lock(mu);
        if (p < last_seq.size()) seqs[p] = last_seq[p];
      }
    }
    std::lock_guard lock(mu);
    last_seq = std::move(seqs);
  }

  // Which partitions this node served at the last report; all at first (see the option).
  // Takeover thread only.
  std::vector<bool> reported;
  // Partitions not served at the end of some lease round since the takeover thread last
  // looked (guarded by mu): one lost and taken again meanwhile is reported lost, then gained.
  std::vector<bool> lapsed;

  // Reports the partitions gained and lost since the last report (on_ownership_change: the
  // gained partitions' open alerts are adopted there) and returns the partitions whose
  // consumers may run: served now and reported as gained, so a consumer never starts before
  // its partition's alerts were adopted.
  std::vector<uint32_t> ReportOwnership(const std::vector<uint32_t>& served,
                                        const std::vector<bool>& lapsed_since) {
    const uint32_t n = options.partitions;
    if (reported.empty()) reported.assign(n, true);
    std::vector<bool> now(n, false);
    for (uint32_t p : served)
      if (p < n) now[p] = true;
    std::vector<uint32_t> gained, lost;
    bool regained = false;
    for (uint32_t p = 0; p < n; ++p) {
      const bool was = reported[p] && !(p < lapsed_since.size() && lapsed_since[p]);
      if (reported[p] && !was && now[p]) regained = true;
      if (now[p] && !was) gained.push_back(p);
      if (reported[p] && (!now[p] || !was)) lost.push_back(p);
    }
    reported = std::move(now);
    if (!gained.empty() || !lost.empty()) {
      // First stop the consumers of what was lost (or lost and taken again), before the
      // adoption, which may take seconds.
      std::vector<uint32_t> kept;
      for (uint32_t p : served)
        if (!std::binary_search(gained.begin(), gained.end(), p) && keeper->Serving(p))
          kept.push_back(p);
      applier->Reconcile(kept);
      spdlog::info("event=cluster_ownership_change gained={} lost={}", gained.size(), lost.size());
      if (options.on_ownership_change && regained) {
        options.on_ownership_change({}, lost);
        options.on_ownership_change(gained, {});
      } else if (options.on_ownership_change) {
        options.on_ownership_change(gained, lost);
      }
    }
    std::vector<uint32_t> runnable;
    for (uint32_t p : served)
      if (keeper->Serving(p)) runnable.push_back(p);
    return runnable;
  }

  // The lease thread: one lease round every round_ms and nothing else, so a slow or
  // unavailable NATS call of anything but the lease bucket (alert bucket, consumer creation,
  // stream info) never delays a renew past a lease's deadline.
  void Run() {
    std::unique_lock lock(mu);
    while (!stopping) {
      lock.unlock();
      Status s = keeper->Tick();
      if (s.code() == StatusCode::kAlreadyExists) {
        if (!id_conflict.exchange(true))
          spdlog::error("event=cluster_node_id_conflict node={} reason=\"{}\"", options.node_id,
                        s.message());
      } else if (!s.ok()) {
        spdlog::warn("event=cluster_lease_round_failed reason=\"{}\"", s.message());
      } else {
        id_conflict = false;
      }
      const std::vector<uint32_t> served = keeper->Served();
      lock.lock();
      if (lapsed.empty()) lapsed.assign(options.partitions, false);
      std::vector<bool> now(options.partitions, false);
      for (uint32_t p : served)
        if (p < options.partitions) now[p] = true;
      for (uint32_t p = 0; p < options.partitions; ++p)
        if (!now[p]) lapsed[p] = true;
      ++rounds_done;
      cv.notify_all();
      cv.wait_for(lock, std::chrono::milliseconds(options.round_ms), [&] { return stopping; });
    }
  }

  // The takeover thread: after each lease round, the ownership changes (alert adoption and
  // status scope, which may wait seconds on the alert bucket), then the consumers of what is
  // served and adopted, and the checkpoint.
  void RunTakeover() {
    uint64_t seen = 0;
    std::unique_lock lock(mu);
    while (!stopping) {
      cv.wait_for(lock, std::chrono::milliseconds(options.round_ms),
                  [&] { return stopping || rounds_done != seen; });
      if (stopping) break;
      seen = rounds_done;
      std::vector<bool> lapsed_since;
      lapsed_since.swap(lapsed);
      lock.unlock();
      applier->Reconcile(ReportOwnership(keeper->Served(), lapsed_since));
      lock.lock();
    }
  }

  void RunLag() {
    std::unique_lock lock(mu);
    while (!stopping) {
      lock.unlock();
      RefreshLastSeq();
      lock.lock();
      cv.wait_for(lock, std::chrono::milliseconds(3 * options.round_ms), [&] { return stopping; });
    }
  }
};

ClusterNode::ClusterNode(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ClusterNode::~ClusterNode() {
  Stop();
}

Result<std::unique_ptr<ClusterNode>> ClusterNode::Start(const ClusterNodeOptions& o,
                                                        Ingestor& ingestor) {
  if (!ValidNodeId(o.node_id))
    return Status::InvalidArgument("--node-id '" + o.node_id +
                                   "' is not a valid node id (1-64 of A-Z a-z 0-9 _ -)");
  if (o.partitions == 0) return Status::InvalidArgument("--partitions must be at least 1");
  auto impl = std::make_unique<Impl>();
  impl->options = o;
  NatsLeaseKvOptions ko;
  ko.servers = o.nats;
  ko.replicas = o.replicas;
  ko.ttl_ms = o.lease_ttl_ms;
  auto leases = Retrying(o, "lease_bucket", [&] { return NatsLeaseKv::Open(ko); });
  if (!leases.ok())
    return Status(leases.status().code(),
                  "cluster: NATS at " + Joined(o.nats) + ": " + leases.status().message());
  impl->leases = std::move(*leases);
  NatsLeaseKvOptions co = ko;
  co.bucket = "fleetpulse_cluster";
  co.ttl_ms = 0;
  auto ckv = Retrying(o, "cluster_bucket", [&] { return NatsLeaseKv::Open(co); });
  if (!ckv.ok()) return Status(ckv.status().code(), "cluster: " + ckv.status().message());
  impl->cluster_kv = std::move(*ckv);
  if (Status s = impl->CheckPartitions(); !s.ok())
    return Status(s.code(), "cluster: " + s.message());
  if (Status s = impl->Connect(); !s.ok()) return Status(s.code(), "cluster: " + s.message());
  if (Status s = impl->EnsureStreams(); !s.ok()) return Status(s.code(), "cluster: " + s.message());
  auto writes = ClusterWritePath::Create(impl->nc, o.partitions, o.publish_timeout_ms);
  if (!writes.ok()) return writes.status();
  impl->writes = std::move(*writes);

  LeaseConfig lc;
  lc.node_id = o.node_id;
  lc.advertise = o.advertise;
  lc.partitions = o.partitions;
  lc.ttl_ms = o.lease_ttl_ms;
  impl->keeper = std::make_unique<LeaseKeeper>(lc, *impl->leases, impl->clock);
  // The first round refuses a node id in use (its presence key exists and is not ours).
  Status first = impl->keeper->Tick();
  if (first.code() == StatusCode::kAlreadyExists)
    return Status::AlreadyExists("cluster: " + first.message() +
                                 "; give every node its own --node-id");
  impl->applier = std::make_unique<PartitionApplier>(
      impl->nc, ingestor, *impl->keeper,
      (std::filesystem::path(o.data_dir) / "cluster" / "applied").string(), o.partitions,
      o.apply_device);
  if (Status s = impl->applier->Open(); !s.ok()) return s;
  // A device change is answered once this node applied it (when it serves the partition), so
  // the row is read back and readable through every node right after the answer.
  impl->writes->set_applied_waiter([a = impl->applier.get(), t = o.publish_timeout_ms](
                                       uint32_t p, uint64_t seq, std::function<void()> then) {
    a->WhenApplied(p, seq, t, std::move(then));
  });
  impl->last_seq.assign(o.partitions, 0);
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->Run(); });
  impl->takeover_thread = std::thread([raw] { raw->RunTakeover(); });
  impl->lag_thread = std::thread([raw] { raw->RunLag(); });
  spdlog::info("event=cluster_joined node={} partitions={} replicas={} servers={}", o.node_id,
               o.partitions, o.replicas, Joined(o.nats));
  return std::unique_ptr<ClusterNode>(new ClusterNode(std::move(impl)));
}

void ClusterNode::Stop() {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  for (std::thread* t : {&impl_->thread, &impl_->takeover_thread, &impl_->lag_thread})
    if (t->joinable()) t->join();
  if (impl_->applier) impl_->applier->StopAll();
}

WritePath& ClusterNode::write_path() {
  return *impl_->writes;
}
const ClusterNodeOptions& ClusterNode::options() const {
  return impl_->options;
}
bool ClusterNode::nats_connected() const {
  return natsConnection_Status(impl_->nc) == NATS_CONN_STATUS_CONNECTED;
}
std::string ClusterNode::nats_connected_url() const {
  char buf[256] = {0};
  if (natsConnection_GetConnectedUrl(impl_->nc, buf, sizeof buf) != NATS_OK) return "";
  return buf;
}
std::vector<uint32_t> ClusterNode::served() const {
  return impl_->keeper->Served();
}
bool ClusterNode::serves_device(std::string_view device_id) const {
  return impl_->keeper->Serving(PartitionOf(device_id, impl_->options.partitions));
}
uint64_t ClusterNode::lease_changes() const {
  return impl_->keeper->changes();
}
uint64_t ClusterNode::shares_published() const {
  return impl_->writes->stats().published;
}
uint64_t ClusterNode::shares_refused() const {
  return impl_->writes->stats().refused;
}
uint64_t ClusterNode::shares_damaged() const {
  return impl_->applier->damaged();
}

std::vector<NodeView> ClusterNode::nodes() const {
  LeaseSnapshot snap = impl_->keeper->Snapshot();
  std::vector<NodeView> out;
  for (const auto& [id, advertise] : snap.nodes) {
    NodeView n{id, advertise, {}};
    for (uint32_t p = 0; p < snap.owners.size(); ++p)
      if (snap.owners[p] == id) n.partitions.push_back(p);
    out.push_back(std::move(n));
  }
  return out;
}

std::vector<PartitionView> ClusterNode::partitions() const {
  LeaseSnapshot snap = impl_->keeper->Snapshot();
  std::vector<uint64_t> last;
  {
    std::lock_guard lock(impl_->mu);
    last = impl_->last_seq;
  }
  std::vector<PartitionView> out;
  for (uint32_t p = 0; p < impl_->options.partitions; ++p) {
    PartitionView v;
    v.id = p;
    v.owner = p < snap.owners.size() ? snap.owners[p] : "";
    v.last_seq = p < last.size() ? last[p] : 0;
    v.applied_seq = impl_->applier->Applied(p);
    v.served_here = impl_->keeper->Serving(p);
    // Our own answer is fresher than the bucket's for what we serve.
    if (v.served_here) v.owner = impl_->options.node_id;
    out.push_back(std::move(v));
  }
  return out;
}

std::string ClusterNode::ClusterJson() const {
  const auto& o = impl_->options;
  JsonWriter w;
  w.begin_object()
      .field("mode", "cluster")
      .field("node_id", o.node_id)
      .field("advertise", o.advertise)
      .field("partitions_total", static_cast<uint64_t>(o.partitions))
      .field("replicas", static_cast<int64_t>(o.replicas));
  w.key("nodes").begin_array();
  for (const NodeView& n : nodes()) {
    w.begin_object().field("id", n.id).field("advertise", n.advertise).field("alive", true);
    w.key("partitions").begin_array();
    for (uint32_t p : n.partitions) w.value(static_cast<uint64_t>(p));
    w.end_array().end_object();
  }
  w.end_array();
  w.key("partitions").begin_array();
  for (const PartitionView& p : partitions()) {
    w.begin_object().field("id", static_cast<uint64_t>(p.id));
    if (p.owner.empty())
      w.key("owner").null();
    else
      w.field("owner", p.owner);
    w.field("last_seq", p.last_seq);
    if (p.served_here) {
      w.field("applied_seq", p.applied_seq)
          .field("lag", p.last_seq > p.applied_seq ? p.last_seq - p.applied_seq : 0);
    } else {
      w.key("applied_seq").null().key("lag").null();
    }
    w.end_object();
  }
  w.end_array();
  w.key("nats").begin_array();
  const std::string connected = nats_connected_url();
  for (const auto& url : o.nats) {
    // libnats reports the URL it is connected to; the others are reconnect candidates.
    const bool here = !connected.empty() &&
                      url.find(connected.substr(connected.find("://") + 3)) != std::string::npos;
    w.begin_object().field("url", url).field("connected", here && nats_connected()).end_object();
  }
  w.end_array();
  w.end_object();
  return w.take();
}

std::string ClusterNode::HealthJson() const {
  const bool up = nats_connected();
  JsonWriter w;
  w.begin_object()
      .field("state", up && !impl_->id_conflict ? "ok" : "critical")
      .field("connected", up)
      .field("url", nats_connected_url())
      .field("node_id", impl_->options.node_id);
  w.key("owned_partitions").begin_array();
  uint64_t lag = 0;
  for (const PartitionView& p : partitions()) {
    if (!p.served_here) continue;
    w.value(static_cast<uint64_t>(p.id));
    if (p.last_seq > p.applied_seq) lag += p.last_seq - p.applied_seq;
  }
  w.end_array();
  w.field("lag", lag).end_object();
  return w.take();
}

void ClusterNode::WriteMetrics(metrics::ExpositionWriter& w) const {
  using metrics::Kind;
  const std::string node = impl_->options.node_id;
  w.header("fleetpulse_cluster_partition_lag",
           "Stream messages of a partition this node serves not yet applied here.", Kind::kGauge);
  for (const PartitionView& p : partitions()) {
    if (!p.served_here) continue;
    w.sample("fleetpulse_cluster_partition_lag", {"node", "partition"},
             {node, std::to_string(p.id)},
             static_cast<double>(p.last_seq > p.applied_seq ? p.last_seq - p.applied_seq : 0));
  }
  w.header("fleetpulse_cluster_partitions_owned", "Partitions this node serves.", Kind::kGauge);
  w.sample("fleetpulse_cluster_partitions_owned", {"node"}, {node},
           static_cast<double>(served().size()));
  w.header("fleetpulse_cluster_lease_changes_total",
           "Partitions this node gained or lost since it started.", Kind::kCounter);
  w.sample("fleetpulse_cluster_lease_changes_total", {"node"}, {node},
           static_cast<double>(lease_changes()));
  w.header("fleetpulse_cluster_shares_total",
           "Request shares: acked/refused by JetStream when published here, damaged when applied.",
           Kind::kCounter);
  w.sample("fleetpulse_cluster_shares_total", {"node", "outcome"}, {node, "acked"},
           static_cast<double>(shares_published()));
  w.sample("fleetpulse_cluster_shares_total", {"node", "outcome"}, {node, "refused"},
           static_cast<double>(shares_refused()));
  w.sample("fleetpulse_cluster_shares_total", {"node", "outcome"}, {node, "damaged"},
           static_cast<double>(shares_damaged()));
  w.header("fleetpulse_cluster_nats_connected", "1 when this node's NATS connection is up.",
           Kind::kGauge);
  w.sample("fleetpulse_cluster_nats_connected", {"node"}, {node}, nats_connected() ? 1.0 : 0.0);
}

}  // namespace fp::cluster
