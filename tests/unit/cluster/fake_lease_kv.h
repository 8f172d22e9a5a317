#pragma once
// FakeLeaseKv: an in-memory LeaseKv with a bucket TTL on a ManualClock, for lease tests. A key
// not written for ttl_ms is gone, as in a JetStream KV bucket with max age. `available` set to
// false makes every call fail with kUnavailable (a store that cannot answer).

#include <functional>
#include <map>

#include "cluster/lease_kv.h"
#include "util/clock.h"

namespace fp::cluster {

class FakeLeaseKv final : public LeaseKv {
 public:
  FakeLeaseKv(const Clock& clock, int64_t ttl_ms) : clock_(clock), ttl_ms_(ttl_ms) {}

  bool available = true;
  int writes = 0;
  // Called after each successful Create/Update with its key until it returns true: lets a
  // test land a concurrent write between a write and its read-back.
  std::function<bool(const std::string&)> after_write;

  Result<uint64_t> Create(const std::string& key, const std::string& value) override {
    if (!available) return Status::Unavailable("down");
    Expire();
    if (entries_.count(key)) return Status::AlreadyExists("exists");
    return Written(key, Write(key, value));
  }
  Result<uint64_t> Update(const std::string& key, const std::string& value,
                          uint64_t expected) override {
    if (!available) return Status::Unavailable("down");
    Expire();
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second.entry.revision != expected) {
      return Status::AlreadyExists("wrong last sequence");
    }
    return Written(key, Write(key, value));
  }
  Result<std::optional<KvEntry>> Get(const std::string& key) override {
    if (!available) return Status::Unavailable("down");
    Expire();
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::optional<KvEntry>();
    return std::optional<KvEntry>(it->second.entry);
  }
  Result<std::vector<KvEntry>> List(const std::string& prefix) override {
    if (!available) return Status::Unavailable("down");
    Expire();
    std::vector<KvEntry> out;
    for (const auto& [k, v] : entries_) {
      if (k.rfind(prefix, 0) == 0) out.push_back(v.entry);
    }
    return out;
  }
  // Overwrites a key regardless of revision (what a non-serialised CAS can produce).
  void ForceWrite(const std::string& key, const std::string& value) { Write(key, value); }
  bool Exists(const std::string& key) {
    Expire();
    return entries_.count(key) > 0;
  }
  // When the server-side copy of `key` expires (ms on the clock), or -1.
  int64_t ExpiresAt(const std::string& key) const {
    auto it = entries_.find(key);
    return it == entries_.end() ? -1 : it->second.written_ms + ttl_ms_;
  }

 private:
  struct Stored {
    KvEntry entry;
    int64_t written_ms;
  };
  uint64_t Written(const std::string& key, uint64_t revision) {
    if (after_write) {
      auto hook = after_write;
      if (hook(key)) after_write = nullptr;
    }
    return revision;
  }
  uint64_t Write(const std::string& key, const std::string& value) {
    ++writes;
    entries_[key] = Stored{KvEntry{key, value, ++last_revision_}, clock_.now_ms()};
    return last_revision_;
  }
  void Expire() {
    const int64_t now = clock_.now_ms();
    std::erase_if(entries_, [&](const auto& kv) { return now >= kv.second.written_ms + ttl_ms_; });
  }

  const Clock& clock_;
  const int64_t ttl_ms_;
  uint64_t last_revision_ = 0;
  std::map<std::string, Stored> entries_;
};

}  // namespace fp::cluster
