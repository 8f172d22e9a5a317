#include "cluster/state_sync.h"

#include <nats/nats.h>
#include <openssl/rand.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>

#include "alerting/alert_engine.h"
#include "alerting/rule.h"
#include "auth/api_key_authenticator.h"
#include "auth/device_token_authenticator.h"
#include "cluster/kv_key.h"
#include "cluster/nats_error.h"
#include "cluster/nats_kv_bucket.h"
#include "storage/catalog/catalog.h"
#include "util/json_writer.h"

namespace fp::cluster {
namespace {

constexpr const char* kBucket = "fleetpulse_state";
constexpr std::string_view kTombstone = R"({"deleted":true})";

std::string Hex(std::string_view s) {
  return KvHex(s);
}

std::string Unhex(std::string_view s) {
  std::string out;
  auto nib = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (size_t i = 0; i + 1 < s.size(); i += 2)
    out += static_cast<char>(nib(s[i]) << 4 | nib(s[i + 1]));
  return out;
}

// A rule's stored body without its per-node timestamps: the value synced and compared.
std::string CanonicalRule(std::string_view body) {
  simdjson::dom::parser p;
  simdjson::dom::object o;
  if (p.parse(body.data(), body.size()).get_object().get(o) != simdjson::SUCCESS)
    return std::string(body);
  JsonWriter w;
  w.begin_object();
  for (auto f : o) {
    if (f.key == "created_at" || f.key == "updated_at") continue;
    w.key(f.key).raw(simdjson::minify(f.value));
  }
  w.end_object();
  return w.take();
}

std::string KeyJson(const ApiKeyRecord& k) {
  JsonWriter w;
  w.begin_object().field("id", k.id).field("name", k.name).field("role", to_string(k.role));
  w.field("key_hash", k.key_hash).field("created_at", k.created_at_ms).field("revoked", k.revoked);
  w.end_object();
  return w.take();
}

std::string TokenJson(const DeviceTokenRecord& t) {
  JsonWriter w;
  w.begin_object().field("id", t.id).field("device_id", t.device_id).field("name", t.name);
  w.field("token_hash", t.token_hash).field("created_at", t.created_at_ms);
  w.field("revoked", t.revoked).end_object();
  return w.take();
}

// The value of `key`: created with 32 random bytes (hex) when the bucket has none (create is
// serialised in a cluster: one node wins, the others read its value; a read may reach a
// replica that has not applied the create yet, so it is retried for a few seconds).
Result<std::string> SharedSecret(kvStore* kv, const char* key) {
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1)
    return Status::Internal("no random bytes for " + std::string(key));
  const std::string mine = KvHex(std::string_view(reinterpret_cast<const char*>(raw), sizeof raw));
  uint64_t rev = 0;
  if (kvStore_Create(&rev, kv, key, mine.data(), static_cast<int>(mine.size())) == NATS_OK)
    return mine;
  natsStatus s = NATS_OK;
  for (int attempt = 0; attempt < 50; ++attempt) {
    kvEntry* e = nullptr;
    s = kvStore_Get(&e, kv, key);
    if (s == NATS_OK) {
      std::string value(static_cast<const char*>(kvEntry_Value(e)), kvEntry_ValueLen(e));
      kvEntry_Destroy(e);
      if (value.size() == 64) return value;
      return Status::Corruption("cluster state: " + std::string(key) + " is not 64 hex digits");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return Status::Unavailable("cluster state: cannot read " + std::string(key) + ": " +
                             NatsErrorText(s));
}

}  // namespace

struct StateSync::Impl {
  StateSyncOptions o;
  StateSyncTargets t;
  std::unique_ptr<NatsKvBucket> nats;
  kvStore* kv = nullptr;  // nats->kv
  kvWatcher* watcher = nullptr;
  std::atomic<bool> stop{false};
  std::thread thread;
  std::string forward_secret;                 // constant after Start
  std::map<std::string, std::string> synced;  // KV key -> value last applied or published

  Impl(StateSyncOptions opts, StateSyncTargets targets) : o(std::move(opts)), t(targets) {}
  ~Impl() {
    if (watcher != nullptr) kvWatcher_Destroy(watcher);
  }

  // The node's own state as KV key -> value.
  std::map<std::string, std::string> Local() {
    std::map<std::string, std::string> out;
    if (auto rules = t.catalog.list_rules(); rules.ok())
      for (const RuleRecord& r : *rules) out["rule." + Hex(r.id)] = CanonicalRule(r.json);
    if (auto keys = t.catalog.list_api_keys(); keys.ok())
      for (const ApiKeyRecord& k : *keys) out["key." + Hex(k.id)] = KeyJson(k);
    if (auto tokens = t.catalog.list_device_tokens(""); tokens.ok())
      for (const DeviceTokenRecord& tk : *tokens) out["token." + Hex(tk.id)] = TokenJson(tk);
    return out;
  }

  // Publishes what changed locally since the last sync (deleted rules as tombstones).
  void PublishLocal() {
    std::map<std::string, std::string> local = Local();
    for (const auto& [key, value] : local) {
      auto it = synced.find(key);
      if (it != synced.end() && it->second == value) continue;
      Put(key, value);
    }
    for (const auto& [key, value] : synced) {
      if (key.rfind("rule.", 0) != 0 || value == kTombstone || local.count(key)) continue;
      Put(key, std::string(kTombstone));
    }
  }

  void Put(const std::string& key, const std::string& value) {
    uint64_t rev = 0;
    natsStatus s = kvStore_Put(&rev, kv, key.c_str(), value.data(), static_cast<int>(value.size()));
    if (s != NATS_OK) {
      spdlog::warn("event=cluster_state_put_failed key={} reason=\"{}\"", key, NatsErrorText(s));
      return;  // retried at the next poll: `synced` still differs
    }
    synced[key] = value;
  }

  void Apply(const std::string& key, const std::string& value) {
    auto it = synced.find(key);
    if (it != synced.end() && it->second == value) return;
    Status s = Status::Ok();
    if (key.rfind("rule.", 0) == 0) {
      s = ApplyRule(Unhex(key.substr(5)), value);
    } else if (key.rfind("key.", 0) == 0) {
      s = ApplyKey(value);
    } else if (key.rfind("token.", 0) == 0) {
      s = ApplyToken(value);
    }
    if (!s.ok())
      spdlog::warn("event=cluster_state_apply_failed key={} reason=\"{}\"", key, s.message());
    synced[key] = value;
  }

  Status ApplyRule(const std::string& id, const std::string& value) {
    if (t.alerts == nullptr) return Status::Ok();
    if (value == kTombstone) {
      Status s = t.alerts->delete_rule(id);
      return s.code() == StatusCode::kNotFound ? Status::Ok() : s;
    }
    auto rule = parse_rule(value, "");
    if (!rule.ok()) return rule.status();
    if (t.alerts->rule(id).ok()) return t.alerts->replace_rule(std::move(*rule)).status();
    return t.alerts->create_rule(std::move(*rule)).status();
  }

  Status ApplyKey(const std::string& value) {
    simdjson::dom::parser p;
    simdjson::dom::object o;
    if (p.parse(value).get_object().get(o) != simdjson::SUCCESS)
      return Status::InvalidArgument("damaged key entry");
    ApiKeyRecord k;
    std::string_view sv;
    if (o["id"].get_string().get(sv) == simdjson::SUCCESS) k.id = sv;
    if (o["name"].get_string().get(sv) == simdjson::SUCCESS) k.name = sv;
    if (o["role"].get_string().get(sv) == simdjson::SUCCESS)
      k.role = parse_api_role(sv).value_or(ApiRole::kRead);
    if (o["key_hash"].get_string().get(sv) == simdjson::SUCCESS) k.key_hash = sv;
    int64_t at = 0;
    if (o["created_at"].get_int64().get(at) == simdjson::SUCCESS) k.created_at_ms = at;
    bool revoked = false;
    if (o["revoked"].get_bool().get(revoked) == simdjson::SUCCESS) k.revoked = revoked;
    if (k.revoked) {
      // Through the authenticator: it forgets the key and closes what was opened with it.
      if (t.keys.role_of(k.id)) return t.keys.revoke(k.id);
      return t.catalog.put_api_key(k);
    }
    FP_RETURN_IF_ERROR(t.catalog.put_api_key(k));
    return t.keys.load();
  }

  Status ApplyToken(const std::string& value) {
    simdjson::dom::parser p;
    simdjson::dom::object o;
    if (p.parse(value).get_object().get(o) != simdjson::SUCCESS)
      return Status::InvalidArgument("damaged token entry");
    DeviceTokenRecord tk;
    std::string_view sv;
    if (o["id"].get_string().get(sv) == simdjson::SUCCESS) tk.id = sv;
    if (o["device_id"].get_string().get(sv) == simdjson::SUCCESS) tk.device_id = sv;
    if (o["name"].get_string().get(sv) == simdjson::SUCCESS) tk.name = sv;
    if (o["token_hash"].get_string().get(sv) == simdjson::SUCCESS) tk.token_hash = sv;
    int64_t at = 0;
    if (o["created_at"].get_int64().get(at) == simdjson::SUCCESS) tk.created_at_ms = at;
    bool revoked = false;
    if (o["revoked"].get_bool().get(revoked) == simdjson::SUCCESS) tk.revoked = revoked;
    if (t.tokens == nullptr) return Status::Ok();
    if (tk.revoked) {
      if (t.tokens->is_active(tk.id)) return t.tokens->revoke(tk.device_id, tk.id);
      Status s = t.catalog.put_device_token(tk);
      return s.code() == StatusCode::kAlreadyExists ? Status::Ok() : s;
    }
    Status s = t.catalog.put_device_token(tk);
    if (!s.ok() && s.code() != StatusCode::kAlreadyExists) return s;
    return t.tokens->load();
  }

  // Applies watcher entries until `timeout_ms` passes without one; false when the watcher
  // ended (stopped). `initial_done` is set at the end of the bucket's current content.
  bool Drain(int64_t timeout_ms, bool* initial_done) {
    for (;;) {
      kvEntry* e = nullptr;
      natsStatus s = kvWatcher_Next(&e, watcher, timeout_ms);
      if (s == NATS_TIMEOUT) return true;
      if (s != NATS_OK) return s != NATS_ILLEGAL_STATE;
      if (e == nullptr) {
        if (initial_done) *initial_done = true;
        return true;
      }
      const std::string key = kvEntry_Key(e);
      std::string value(static_cast<const char*>(kvEntry_Value(e)), kvEntry_ValueLen(e));
      const kvOperation op = kvEntry_Operation(e);
      kvEntry_Destroy(e);
      if (op == kvOp_Put) Apply(key, value);
      timeout_ms = 0;  // drain what is queued, then back to the caller
    }
  }

  void Run() {
    auto last_poll = std::chrono::steady_clock::now();
    while (!stop) {
      if (!Drain(o.poll_ms / 2, nullptr)) break;
      if (std::chrono::steady_clock::now() - last_poll >= std::chrono::milliseconds(o.poll_ms)) {
        PublishLocal();
        last_poll = std::chrono::steady_clock::now();
      }
    }
  }
};

StateSync::StateSync(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

StateSync::~StateSync() {
  Stop();
}

void StateSync::Stop() {
  if (!impl_ || impl_->stop.exchange(true)) return;
  if (impl_->watcher != nullptr) kvWatcher_Stop(impl_->watcher);
  if (impl_->thread.joinable()) impl_->thread.join();
}

const std::string& StateSync::forward_secret() const {
  return impl_->forward_secret;
}

Result<std::unique_ptr<StateSync>> StateSync::Start(const StateSyncOptions& o,
                                                    StateSyncTargets targets) {
  auto impl = std::make_unique<Impl>(o, targets);
  auto bucket = NatsKvBucket::Open(o.nats, kBucket, o.replicas, "cluster state");
  if (!bucket.ok()) return bucket.status();
  impl->nats = std::move(*bucket);
  impl->kv = impl->nats->kv;
  natsStatus s = kvStore_WatchAll(&impl->watcher, impl->kv, nullptr);
  if (s != NATS_OK) return Status::Unavailable("cluster state watcher: " + NatsErrorText(s));
  // The bucket's content first (what the cluster decided while this node was away wins),
  // then what only this node has.
  bool initial_done = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!initial_done && std::chrono::steady_clock::now() < deadline)
    if (!impl->Drain(1'000, &initial_done)) break;
  if (!initial_done)
    return Status::Unavailable("cluster state: the bucket's content did not arrive");
  impl->PublishLocal();
  auto secret = SharedSecret(impl->kv, "secret.forward");
  if (!secret.ok()) return secret.status();
  impl->forward_secret = std::move(*secret);
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->Run(); });
  return std::unique_ptr<StateSync>(new StateSync(std::move(impl)));
}

}  // namespace fp::cluster
