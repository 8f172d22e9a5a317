#include "cluster/nats_kv_bucket.h"

#include "cluster/nats_error.h"

namespace fp::cluster {

NatsKvBucket::~NatsKvBucket() {
  if (kv != nullptr) kvStore_Destroy(kv);
  if (js != nullptr) jsCtx_Destroy(js);
  if (nc != nullptr) natsConnection_Destroy(nc);
  if (nopts != nullptr) natsOptions_Destroy(nopts);
}

Result<std::unique_ptr<NatsKvBucket>> NatsKvBucket::Open(const std::vector<std::string>& servers,
                                                         const std::string& bucket, int replicas,
                                                         const std::string& what) {
  auto b = std::make_unique<NatsKvBucket>();
  std::vector<const char*> urls;
  for (const auto& s : servers) urls.push_back(s.c_str());
  natsStatus s = natsOptions_Create(&b->nopts);
  if (s == NATS_OK)
    s = natsOptions_SetServers(b->nopts, urls.data(), static_cast<int>(urls.size()));
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(b->nopts, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(b->nopts, 250);
  if (s == NATS_OK) s = natsOptions_SetTimeout(b->nopts, 2'000);
  if (s == NATS_OK) s = natsConnection_Connect(&b->nc, b->nopts);
  if (s != NATS_OK) return Status::Unavailable(what + ": NATS: " + NatsErrorText(s));
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = 5'000;
  s = natsConnection_JetStream(&b->js, b->nc, &jo);
  if (s != NATS_OK) return Status::Unavailable(what + ": JetStream: " + NatsErrorText(s));
  kvConfig cfg;
  kvConfig_Init(&cfg);
  cfg.Bucket = bucket.c_str();
  cfg.History = 1;
  cfg.StorageType = js_FileStorage;
  cfg.Replicas = replicas;
  s = js_CreateKeyValue(&b->kv, b->js, &cfg);
  if (s != NATS_OK) s = js_KeyValue(&b->kv, b->js, bucket.c_str());
  if (s != NATS_OK) return Status::Unavailable(what + " bucket: " + NatsErrorText(s));
  return b;
}

}  // namespace fp::cluster
