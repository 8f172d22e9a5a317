#include "cluster/lease_keeper.h"

#include <algorithm>

#include "cluster/lease_plan.h"

namespace fp::cluster {

std::string PresenceKey(const std::string& node_id) {
  return "node." + node_id;
}
std::string LeaseKey(uint32_t partition) {
  return "part." + std::to_string(partition);
}

bool ValidNodeId(const std::string& node_id) {
  if (node_id.empty() || node_id.size() > 64) return false;
  return std::all_of(node_id.begin(), node_id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

LeaseKeeper::LeaseKeeper(LeaseConfig config, LeaseKv& kv, const Clock& clock)
    : config_([&] {
        if (config.safety_margin_ms <= 0) config.safety_margin_ms = config.ttl_ms / 3;
        if (config.settle_ms <= 0) config.settle_ms = config.ttl_ms;
        return config;
      }()),
      kv_(kv),
      clock_(clock) {}

Status LeaseKeeper::KeepPresence() {
  const std::string key = PresenceKey(config_.node_id);
  if (presence_revision_ != 0) {
    auto rev = kv_.Update(key, config_.advertise, presence_revision_);
    if (rev.ok()) {
      presence_revision_ = *rev;
      return Status::Ok();
    }
    if (rev.status().code() != StatusCode::kAlreadyExists) return rev.status();
    presence_revision_ = 0;  // our key expired (we were paused) or was taken: create again
  }
  auto rev = kv_.Create(key, config_.advertise);
  if (!rev.ok()) {
    if (rev.status().code() == StatusCode::kAlreadyExists) {
      return Status::AlreadyExists("node id '" + config_.node_id +
                                   "' is used by another live node");
    }
    return rev.status();
  }
  presence_revision_ = *rev;
  return Status::Ok();
}

LeaseKeeper::WriteOutcome LeaseKeeper::WriteLease(uint32_t partition, uint64_t revision) {
  const std::string key = LeaseKey(partition);
  const int64_t sent_ms = clock_.now_ms();
  auto rev =
      revision == 0 ? kv_.Create(key, config_.node_id) : kv_.Update(key, config_.node_id, revision);
  if (!rev.ok()) {
    return rev.status().code() == StatusCode::kAlreadyExists ? WriteOutcome::kLost
                                                             : WriteOutcome::kUnavailable;
  }
  // Read back: a revision other than ours means a concurrent write won (issue 4320).
  auto latest = kv_.Get(key);
  std::lock_guard lock(mu_);
  if (!latest.ok()) {
    // Written but not verified: remember the revision for the next renew, keep the deadline.
    auto it = held_.find(partition);
    if (it != held_.end()) it->second.revision = *rev;
    return WriteOutcome::kUnavailable;
  }
  if (!latest->has_value() || (*latest)->revision != *rev || (*latest)->value != config_.node_id) {
    held_.erase(partition);
    return WriteOutcome::kLost;
  }
  held_[partition] = Held{*rev, sent_ms + config_.ttl_ms - config_.safety_margin_ms};
  return WriteOutcome::kOk;
}

Status LeaseKeeper::Tick() {
  Status s = TickRound();
  std::vector<uint32_t> now = Served();
  if (now != last_served_) {
    uint64_t moved = 0;
    for (uint32_t p : now)
      if (!std::binary_search(last_served_.begin(), last_served_.end(), p)) ++moved;
    for (uint32_t p : last_served_)
      if (!std::binary_search(now.begin(), now.end(), p)) ++moved;
    std::lock_guard lock(mu_);
    changes_ += moved;
  }
  last_served_ = std::move(now);
  return s;
}

Status LeaseKeeper::TickRound() {
  // Leases whose deadline passed are gone for good: they are re-taken only by Create.
  std::map<uint32_t, Held> held;
  {
    std::lock_guard lock(mu_);
    const int64_t now = clock_.now_ms();
    std::erase_if(held_, [&](const auto& kv) { return now >= kv.second.deadline_ms; });
    held = held_;
  }
  auto drop = [&](uint32_t p) {
    std::lock_guard lock(mu_);
    held_.erase(p);
  };
  // Renews `parts`; stops at the first store that does not answer (the others would wait for
  // the same timeout), keeping their deadlines. A renew is never sent after the deadline.
  auto renew_all = [&](const std::vector<uint32_t>& parts) {
    for (uint32_t p : parts) {
      const Held& h = held.at(p);
      if (clock_.now_ms() >= h.deadline_ms) {
        drop(p);
        continue;
      }
      WriteOutcome out = WriteLease(p, h.revision);
      if (out == WriteOutcome::kLost) drop(p);
      if (out == WriteOutcome::kUnavailable) return false;
    }
    return true;
  };
  std::vector<uint32_t> held_ids;
  for (const auto& [p, h] : held) held_ids.push_back(p);

  Status presence = KeepPresence();
  if (presence.code() == StatusCode::kAlreadyExists) {
    std::lock_guard lock(mu_);
    held_.clear();
    return presence;
  }
  // No view this round: remember the last one (the first failure of an outage).
  auto unavailable = [&] {
    if (unavailable_at_ms_ < 0 || clock_.now_ms() - unavailable_at_ms_ >= config_.settle_ms) {
      std::lock_guard lock(mu_);
      settling_nodes_.clear();
      for (const auto& n : snapshot_.nodes) settling_nodes_.push_back(n.first);
    }
    unavailable_at_ms_ = clock_.now_ms();
  };
  if (!presence.ok()) {
    unavailable();
    renew_all(held_ids);
    return presence;
  }
  auto nodes = kv_.List("node.");
  auto leases = nodes.ok() ? kv_.List("part.") : nodes.status();
  if (!leases.ok()) {
    // Without a view of the cluster: only keep what we hold, while the deadlines allow.
    unavailable();
    renew_all(held_ids);
    return leases.status();
  }

  LeasePlanInput in;
  in.self = config_.node_id;
  in.partitions = config_.partitions;
  in.now_ms = clock_.now_ms();
  in.grace_ms = config_.ttl_ms;
  for (const auto& e : *nodes) in.view.live_nodes.push_back(e.key.substr(5));
  if (unavailable_at_ms_ >= 0 && in.now_ms - unavailable_at_ms_ < config_.settle_ms)
    in.also_counted = settling_nodes_;
  in.view.owners.assign(config_.partitions, std::nullopt);
  for (const auto& e : *leases) {
    uint32_t p = 0;
    try {
      p = static_cast<uint32_t>(std::stoul(e.key.substr(5)));
    } catch (...) {
      continue;
    }
    if (p < config_.partitions) in.view.owners[p] = e.value;
  }
  for (uint32_t p = 0; p < config_.partitions; ++p) {
    if (in.view.owners[p]) {
      free_since_ms_.erase(p);
    } else {
      free_since_ms_.try_emplace(p, in.now_ms);
    }
  }
  in.free_since_ms = free_since_ms_;
  in.held = held_ids;

  {
    LeaseSnapshot snap;
    for (const auto& e : *nodes) snap.nodes.emplace_back(e.key.substr(5), e.value);
    std::sort(snap.nodes.begin(), snap.nodes.end());
    for (const auto& o : in.view.owners) snap.owners.push_back(o.value_or(""));
    std::lock_guard lock(mu_);
    snapshot_ = std::move(snap);
  }
  LeasePlan plan = PlanLeases(in);
  for (uint32_t p : held_ids) {
    if (std::find(plan.renew.begin(), plan.renew.end(), p) == plan.renew.end()) {
      drop(p);  // released, or the bucket shows it is no longer ours
    }
  }
  if (!renew_all(plan.renew)) return Status::Unavailable("lease store did not answer a renew");
  for (uint32_t p : plan.take) {
    if (WriteLease(p, 0) == WriteOutcome::kUnavailable) break;
  }
  return Status::Ok();
}

LeaseSnapshot LeaseKeeper::Snapshot() const {
  std::lock_guard lock(mu_);
  return snapshot_;
}

uint64_t LeaseKeeper::changes() const {
  std::lock_guard lock(mu_);
  return changes_;
}

bool LeaseKeeper::Serving(uint32_t partition) const {
  std::lock_guard lock(mu_);
  auto it = held_.find(partition);
  return it != held_.end() && clock_.now_ms() < it->second.deadline_ms;
}

std::vector<uint32_t> LeaseKeeper::Served() const {
  std::lock_guard lock(mu_);
  std::vector<uint32_t> out;
  const int64_t now = clock_.now_ms();
  for (const auto& [p, h] : held_) {
    if (now < h.deadline_ms) out.push_back(p);
  }
  return out;
}

int64_t LeaseKeeper::DeadlineMs(uint32_t partition) const {
  std::lock_guard lock(mu_);
  auto it = held_.find(partition);
  return it == held_.end() ? -1 : it->second.deadline_ms;
}

}  // namespace fp::cluster
