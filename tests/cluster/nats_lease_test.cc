// Partition leases against a real 3-server nats-server JetStream cluster. Not run on its own:
// tests/cluster/test_cluster_leases.py starts the servers and runs one test per fresh cluster
// with FLEETPULSE_NATS_URLS (comma-separated), FLEETPULSE_NATS_PIDS (pids of servers n0,n1,n2,
// in that order) and FLEETPULSE_LEASE_TTL_MS set. Without them every test fails with a message.

#include <gtest/gtest.h>
#include <nats/nats.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "cluster/lease_keeper.h"
#include "cluster/nats_lease_kv.h"
#include "cluster/steady_clock.h"

namespace fp::cluster {
namespace {

constexpr uint32_t kPartitions = 8;
constexpr int64_t kTickMs = 500;

std::vector<std::string> Split(const char* s) {
  std::vector<std::string> out;
  std::stringstream in(s == nullptr ? "" : s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

// One node: its own NATS connection and keeper, ticked by its own thread until paused.
class Node {
 public:
  Node(const std::string& id, const std::vector<std::string>& urls, int64_t ttl_ms,
       const Clock& clock) {
    NatsLeaseKvOptions o;
    o.servers = urls;
    o.ttl_ms = ttl_ms;
    o.replicas = 3;
    o.timeout_ms = 1'000;
    auto kv = NatsLeaseKv::Open(o);
    if (!kv.ok()) {
      ADD_FAILURE() << "open lease bucket: " << kv.status().message();
      return;
    }
    kv_ = std::move(*kv);
    LeaseConfig c;
    c.node_id = id;
    c.advertise = "http://" + id;
    c.partitions = kPartitions;
    c.ttl_ms = ttl_ms;
    keeper_ = std::make_unique<LeaseKeeper>(c, *kv_, clock);
    thread_ = std::thread([this] {
      while (!stop_) {
        if (!paused_) {
          Status s = keeper_->Tick();
          if (s.code() == StatusCode::kUnavailable) ++unavailable_ticks_;
          if (!s.ok() && (s.code() != last_code_ || ++same_ % 20 == 0)) {
            std::cerr << keeper_->config().node_id << ": tick: " << s.message() << "\n";
          }
          last_code_ = s.code();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(kTickMs));
      }
    });
  }
  ~Node() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  bool ok() const { return keeper_ != nullptr; }
  LeaseKeeper& keeper() { return *keeper_; }
  void Pause() { paused_ = true; }
  int unavailable_ticks() const { return unavailable_ticks_; }

 private:
  std::unique_ptr<NatsLeaseKv> kv_;
  std::unique_ptr<LeaseKeeper> keeper_;
  std::atomic<bool> stop_{false}, paused_{false};
  std::atomic<int> unavailable_ticks_{0};
  StatusCode last_code_ = StatusCode::kOk;  // tick thread only
  int same_ = 0;                            // tick thread only
  std::thread thread_;
};

class NatsLeaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    urls_ = Split(std::getenv("FLEETPULSE_NATS_URLS"));
    pids_ = Split(std::getenv("FLEETPULSE_NATS_PIDS"));
    const char* ttl = std::getenv("FLEETPULSE_LEASE_TTL_MS");
    ASSERT_FALSE(urls_.empty() || pids_.size() != 3 || ttl == nullptr)
        << "run through tests/cluster/test_cluster_leases.py: it starts the 3 nats-server "
           "processes and sets FLEETPULSE_NATS_URLS, FLEETPULSE_NATS_PIDS, "
           "FLEETPULSE_LEASE_TTL_MS";
    ttl_ms_ = std::stoll(ttl);
  }
  // Samples both nodes every 10 ms for `ms` and fails if a partition is served twice.
  void WatchExclusive(std::vector<Node*> nodes, int64_t ms) {
    const int64_t end = clock_.now_ms() + ms;
    while (clock_.now_ms() < end) {
      for (uint32_t p = 0; p < kPartitions; ++p) {
        int n = 0;
        for (Node* node : nodes) n += node->keeper().Serving(p) ? 1 : 0;
        ASSERT_LE(n, 1) << "partition " << p << " served by two nodes";
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  size_t Served(std::vector<Node*> nodes) {
    size_t n = 0;
    for (Node* node : nodes) n += node->keeper().Served().size();
    return n;
  }

  SteadyClock clock_;
  std::vector<std::string> urls_, pids_;
  int64_t ttl_ms_ = 0;
};

TEST_F(NatsLeaseTest, ContendingNodesOwnEachPartitionExactlyOnce) {
  Node a("a", urls_, ttl_ms_, clock_), b("b", urls_, ttl_ms_, clock_);
  ASSERT_TRUE(a.ok() && b.ok());
  // Both start at once and race for every free partition; they converge to 4 + 4.
  WatchExclusive({&a, &b}, 2 * ttl_ms_ + 2'000);
  EXPECT_EQ(a.keeper().Served().size(), kPartitions / 2);
  EXPECT_EQ(b.keeper().Served().size(), kPartitions / 2);
}

TEST_F(NatsLeaseTest, PausedOwnerDeadlinePassesBeforeTheOtherNodeTakesOver) {
  Node a("a", urls_, ttl_ms_, clock_), b("b", urls_, ttl_ms_, clock_);
  ASSERT_TRUE(a.ok() && b.ok());
  WatchExclusive({&a, &b}, 2 * ttl_ms_ + 2'000);
  std::vector<uint32_t> a_parts = a.keeper().Served();
  ASSERT_FALSE(a_parts.empty());
  a.Pause();  // a stops renewing, like a process under SIGSTOP
  const int64_t paused_at = clock_.now_ms();
  std::map<uint32_t, int64_t> a_deadline, b_start;
  for (uint32_t p : a_parts) a_deadline[p] = a.keeper().DeadlineMs(p);
  while (b_start.size() < a_parts.size() && clock_.now_ms() < paused_at + 3 * ttl_ms_) {
    for (uint32_t p : a_parts) {
      ASSERT_FALSE(a.keeper().Serving(p) && b.keeper().Serving(p)) << "partition " << p;
      if (b.keeper().Serving(p)) b_start.try_emplace(p, clock_.now_ms());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (uint32_t p : a_parts) {
    ASSERT_TRUE(b_start.count(p)) << "partition " << p << " never taken over";
    EXPECT_LT(a_deadline[p], b_start[p]) << "partition " << p;
    // Taken within the TTL after a's last renew (+ a tick and the server's expiry timer).
    EXPECT_LE(b_start[p] - paused_at, ttl_ms_ + 3 * kTickMs + 1'000) << "partition " << p;
  }
  std::cout << "takeover after pause: ";
  for (uint32_t p : a_parts) std::cout << p << "=" << (b_start[p] - paused_at) << "ms ";
  std::cout << "\n";
  EXPECT_EQ(b.keeper().Served().size(), kPartitions);
}

// The server leading the lease bucket's stream, as index into FLEETPULSE_NATS_PIDS (servers
// are named n0, n1, n2 by the harness).
int BucketLeader(const std::vector<std::string>& urls) {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  jsStreamInfo* si = nullptr;
  int leader = -1;
  std::string all;
  for (const auto& u : urls) all += (all.empty() ? "" : ",") + u;
  if (natsConnection_ConnectTo(&nc, all.c_str()) == NATS_OK &&
      natsConnection_JetStream(&js, nc, nullptr) == NATS_OK &&
      js_GetStreamInfo(&si, js, "KV_fleetpulse_leases", nullptr, nullptr) == NATS_OK &&
      si->Cluster != nullptr && si->Cluster->Leader != nullptr) {
    leader = si->Cluster->Leader[1] - '0';
  }
  if (si != nullptr) jsStreamInfo_Destroy(si);
  if (js != nullptr) jsCtx_Destroy(js);
  if (nc != nullptr) natsConnection_Destroy(nc);
  return leader;
}

TEST_F(NatsLeaseTest, LeasesKeepRenewingWhenTheBucketLeaderServerIsKilled) {
  Node a("a", urls_, ttl_ms_, clock_), b("b", urls_, ttl_ms_, clock_);
  ASSERT_TRUE(a.ok() && b.ok());
  WatchExclusive({&a, &b}, 2 * ttl_ms_ + 2'000);
  ASSERT_EQ(Served({&a, &b}), kPartitions);
  int leader = BucketLeader(urls_);
  ASSERT_GE(leader, 0);
  ASSERT_LE(leader, 2);
  const int64_t killed_at = clock_.now_ms();
  ASSERT_EQ(::kill(std::stoi(pids_[leader]), SIGKILL), 0);
  std::cout << "killed n" << leader << " (bucket leader)\n";
  // Every partition stays served, by exactly one node, through the election and after.
  const int64_t end = killed_at + 2 * ttl_ms_;
  while (clock_.now_ms() < end) {
    ASSERT_EQ(Served({&a, &b}), kPartitions)
        << "a partition lapsed " << clock_.now_ms() - killed_at << " ms after the kill";
    WatchExclusive({&a, &b}, 50);
  }
  // The deadlines moved past the kill: renewals succeeded on the two remaining servers.
  for (uint32_t p : a.keeper().Served()) EXPECT_GT(a.keeper().DeadlineMs(p), end - ttl_ms_);
  for (uint32_t p : b.keeper().Served()) EXPECT_GT(b.keeper().DeadlineMs(p), end - ttl_ms_);
  std::cout << "ticks without an answer: a=" << a.unavailable_ticks()
            << " b=" << b.unavailable_ticks() << "\n";
}

TEST_F(NatsLeaseTest, OwnerLostWhileANatsServerIsDownIsTakenOver) {
  Node a("a", urls_, ttl_ms_, clock_), b("b", urls_, ttl_ms_, clock_);
  ASSERT_TRUE(a.ok() && b.ok());
  WatchExclusive({&a, &b}, 2 * ttl_ms_ + 2'000);
  std::vector<uint32_t> a_parts = a.keeper().Served();
  ASSERT_FALSE(a_parts.empty());
  int leader = BucketLeader(urls_);
  ASSERT_GE(leader, 0);
  ASSERT_EQ(::kill(std::stoi(pids_[leader]), SIGKILL), 0);
  a.Pause();  // the node dies with the server
  const int64_t paused_at = clock_.now_ms();
  // b takes a's partitions once a's leases expire, on the two remaining servers: within the
  // TTL plus one leader election (<= 9 s on 2.9) and a few rounds.
  while (b.keeper().Served().size() < kPartitions && clock_.now_ms() < paused_at + 3 * ttl_ms_) {
    WatchExclusive({&a, &b}, 50);
  }
  EXPECT_EQ(b.keeper().Served().size(), kPartitions)
      << "b serves " << b.keeper().Served().size() << " after " << clock_.now_ms() - paused_at;
  EXPECT_LE(clock_.now_ms() - paused_at, ttl_ms_ + 12'000);
  std::cout << "takeover with a NATS server down: " << clock_.now_ms() - paused_at << " ms\n";
}

TEST_F(NatsLeaseTest, SecondNodeWithTheSameIdIsRefused) {
  Node a("a", urls_, ttl_ms_, clock_);
  ASSERT_TRUE(a.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(3 * kTickMs));
  NatsLeaseKvOptions o;
  o.servers = urls_;
  o.ttl_ms = ttl_ms_;
  auto kv = NatsLeaseKv::Open(o);
  ASSERT_TRUE(kv.ok()) << kv.status().message();
  LeaseConfig c;
  c.node_id = "a";
  c.partitions = kPartitions;
  c.ttl_ms = ttl_ms_;
  LeaseKeeper dup(c, **kv, clock_);
  EXPECT_EQ(dup.Tick().code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(dup.Served().empty());
  EXPECT_EQ(a.keeper().Served().size(), kPartitions);
}

TEST_F(NatsLeaseTest, ExistingBucketWithAnotherTtlIsRefused) {
  NatsLeaseKvOptions o;
  o.servers = urls_;
  o.ttl_ms = ttl_ms_;
  ASSERT_TRUE(NatsLeaseKv::Open(o).ok());
  o.ttl_ms = ttl_ms_ + 1'000;
  auto other = NatsLeaseKv::Open(o);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), StatusCode::kInvalidArgument) << other.status().message();
}

}  // namespace
}  // namespace fp::cluster
