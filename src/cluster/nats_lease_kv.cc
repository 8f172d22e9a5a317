#include "cluster/nats_lease_kv.h"

#include <nats/nats.h>

#include <cstring>

#include "cluster/nats_error.h"

namespace fp::cluster {
namespace {

// A failed conditional write: the server answers "wrong last sequence" (JetStream error
// 10071); everything else means the store could not answer.
Status WriteFailure(natsStatus s, const std::string& what) {
  std::string text = NatsErrorText(s);
  if (s == NATS_ERR && text.find("wrong last sequence") != std::string::npos) {
    return Status::AlreadyExists(what + ": " + text);
  }
  return Status::Unavailable(what + ": " + text);
}

}  // namespace

struct NatsLeaseKv::Handles {
  natsOptions* opts = nullptr;
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  kvStore* kv = nullptr;
  std::string bucket;
  ~Handles() {
    if (kv != nullptr) kvStore_Destroy(kv);
    if (js != nullptr) jsCtx_Destroy(js);
    if (nc != nullptr) natsConnection_Destroy(nc);
    if (opts != nullptr) natsOptions_Destroy(opts);
  }
};

NatsLeaseKv::NatsLeaseKv(std::unique_ptr<Handles> h, int64_t timeout_ms)
    : h_(std::move(h)), timeout_ms_(timeout_ms) {}

NatsLeaseKv::~NatsLeaseKv() = default;

Result<std::unique_ptr<NatsLeaseKv>> NatsLeaseKv::Open(const NatsLeaseKvOptions& o) {
  if (o.servers.empty()) return Status::InvalidArgument("no NATS server given");
  if (o.replicas != 1 && o.replicas != 3) return Status::InvalidArgument("replicas must be 1|3");
  auto h = std::make_unique<Handles>();
  h->bucket = o.bucket;
  std::vector<const char*> urls;
  for (const auto& s : o.servers) urls.push_back(s.c_str());
  natsStatus s = natsOptions_Create(&h->opts);
  if (s == NATS_OK) s = natsOptions_SetServers(h->opts, urls.data(), static_cast<int>(urls.size()));
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(h->opts, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(h->opts, 250);
  if (s == NATS_OK) s = natsOptions_SetTimeout(h->opts, o.timeout_ms);
  if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(h->opts, 1);
  if (s != NATS_OK) return Status::Internal("NATS options: " + NatsErrorText(s));
  s = natsConnection_Connect(&h->nc, h->opts);
  if (s != NATS_OK) return Status::Unavailable("cannot connect to NATS: " + NatsErrorText(s));
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = o.timeout_ms;
  s = natsConnection_JetStream(&h->js, h->nc, &jo);
  if (s != NATS_OK) return Status::Unavailable("JetStream context: " + NatsErrorText(s));

  kvConfig cfg;
  kvConfig_Init(&cfg);
  cfg.Bucket = o.bucket.c_str();
  cfg.History = 1;
  cfg.TTL = o.ttl_ms * 1'000'000;  // nanoseconds
  cfg.StorageType = js_FileStorage;
  cfg.Replicas = o.replicas;
  s = js_CreateKeyValue(&h->kv, h->js, &cfg);
  if (s != NATS_OK) {
    // An existing bucket with another configuration: bind to it and check its TTL.
    natsStatus bind = js_KeyValue(&h->kv, h->js, o.bucket.c_str());
    if (bind != NATS_OK) return Status::Unavailable("lease bucket: " + NatsErrorText(s));
    kvStatus* st = nullptr;
    if (kvStore_Status(&st, h->kv) == NATS_OK) {
      int64_t ttl = kvStatus_TTL(st);
      kvStatus_Destroy(st);
      if (ttl != cfg.TTL) {
        return Status::InvalidArgument("lease bucket " + o.bucket + " exists with TTL " +
                                       std::to_string(ttl / 1'000'000) + " ms, not " +
                                       std::to_string(o.ttl_ms) + " ms");
      }
    }
  }
  return std::unique_ptr<NatsLeaseKv>(new NatsLeaseKv(std::move(h), o.timeout_ms));
}

Result<uint64_t> NatsLeaseKv::Create(const std::string& key, const std::string& value) {
  uint64_t rev = 0;
  natsStatus s = kvStore_CreateString(&rev, h_->kv, key.c_str(), value.c_str());
  if (s != NATS_OK) return WriteFailure(s, "create " + key);
  return rev;
}

Result<uint64_t> NatsLeaseKv::Update(const std::string& key, const std::string& value,
                                     uint64_t expected_revision) {
  uint64_t rev = 0;
  natsStatus s = kvStore_UpdateString(&rev, h_->kv, key.c_str(), value.c_str(), expected_revision);
  if (s != NATS_OK) return WriteFailure(s, "update " + key);
  return rev;
}

Result<std::optional<KvEntry>> NatsLeaseKv::Get(const std::string& key) {
  // Through the stream leader (STREAM.MSG.GET), not kvStore_Get: libnats 3.4 reads a bucket
  // with allow_direct from any replica, which may not have applied our own write yet.
  natsMsg* m = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  const std::string stream = "KV_" + h_->bucket;
  const std::string subject = "$KV." + h_->bucket + "." + key;
  natsStatus s = js_GetLastMsg(&m, h_->js, stream.c_str(), subject.c_str(), nullptr, &code);
  if (s == NATS_NOT_FOUND || code == 10037) return std::optional<KvEntry>();
  if (s != NATS_OK) return Status::Unavailable("get " + key + ": " + NatsErrorText(s));
  const char* op = nullptr;
  bool deleted = natsMsgHeader_Get(m, "KV-Operation", &op) == NATS_OK && op != nullptr;
  std::optional<KvEntry> out;
  if (!deleted) {
    out =
        KvEntry{key, std::string(natsMsg_GetData(m), static_cast<size_t>(natsMsg_GetDataLength(m))),
                natsMsg_GetSequence(m)};
  }
  natsMsg_Destroy(m);
  return out;
}

Result<std::vector<KvEntry>> NatsLeaseKv::List(const std::string& prefix) {
  // Stream info with a subjects filter names the live keys, then each is read through the
  // leader. No consumer is created: a watcher's consumer goes through the meta leader, which
  // stalls for seconds while a killed server's roles are re-elected.
  const std::string stream = "KV_" + h_->bucket;
  const std::string subject_prefix = "$KV." + h_->bucket + ".";
  const std::string filter = subject_prefix + prefix + ">";
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = timeout_ms_;
  jo.Stream.Info.SubjectsFilter = filter.c_str();
  jsStreamInfo* si = nullptr;
  natsStatus s = js_GetStreamInfo(&si, h_->js, stream.c_str(), &jo, nullptr);
  if (s != NATS_OK) return Status::Unavailable("list " + filter + ": " + NatsErrorText(s));
  std::vector<std::string> keys;
  if (si->State.Subjects != nullptr) {
    for (int i = 0; i < si->State.Subjects->Count; ++i) {
      std::string subject = si->State.Subjects->List[i].Subject;
      if (subject.rfind(subject_prefix, 0) == 0)
        keys.push_back(subject.substr(subject_prefix.size()));
    }
  }
  jsStreamInfo_Destroy(si);
  std::vector<KvEntry> out;
  for (const auto& key : keys) {
    auto e = Get(key);
    if (!e.ok()) return e.status();
    if (e->has_value()) out.push_back(std::move(**e));
  }
  return out;
}

}  // namespace fp::cluster
