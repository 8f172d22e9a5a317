#pragma once
// NatsKvBucket: one NATS connection (reconnecting forever) with a JetStream context and one
// KV bucket (file storage, history 1, no TTL), opened or created — what StateSync and
// AlertCarry each hold. The handles are freed with the object.
//
// Thread safety: libnats handles are safe to use from several threads.

#include <nats/nats.h>

#include <memory>
#include <string>
#include <vector>

#include "util/result.h"

namespace fp::cluster {

struct NatsKvBucket {
  natsOptions* nopts = nullptr;
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  kvStore* kv = nullptr;

  // kUnavailable naming `what` when NATS, JetStream or the bucket cannot be reached.
  static Result<std::unique_ptr<NatsKvBucket>> Open(const std::vector<std::string>& servers,
                                                    const std::string& bucket, int replicas,
                                                    const std::string& what);
  NatsKvBucket() = default;
  ~NatsKvBucket();
  NatsKvBucket(const NatsKvBucket&) = delete;
  NatsKvBucket& operator=(const NatsKvBucket&) = delete;
};

}  // namespace fp::cluster
