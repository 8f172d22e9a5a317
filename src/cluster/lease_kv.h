#pragma once
// LeaseKv: the few key-value operations partition leases need, behind an interface so the
// lease logic is tested against a fake store and runs against a JetStream KV bucket
// (NatsLeaseKv). The bucket has one TTL for every key: a key not written for TTL is gone.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/result.h"

namespace fp::cluster {

struct KvEntry {
  std::string key;
  std::string value;
  uint64_t revision = 0;
};

class LeaseKv {
 public:
  virtual ~LeaseKv() = default;
  // Writes `key` only if it does not exist (expected revision 0). Returns the new revision;
  // kAlreadyExists when the key exists; kUnavailable when the store cannot answer.
  virtual Result<uint64_t> Create(const std::string& key, const std::string& value) = 0;
  // Writes `key` only if its latest revision is `expected_revision`. Returns the new revision;
  // kAlreadyExists when the revision differs or the key is gone; kUnavailable as above.
  virtual Result<uint64_t> Update(const std::string& key, const std::string& value,
                                  uint64_t expected_revision) = 0;
  // The latest entry of `key`, or nullopt when there is none.
  virtual Result<std::optional<KvEntry>> Get(const std::string& key) = 0;
  // Every live key starting with `prefix`, with its latest value and revision.
  virtual Result<std::vector<KvEntry>> List(const std::string& prefix) = 0;
};

}  // namespace fp::cluster
