#include "cluster/lease_plan.h"

#include <algorithm>
#include <set>

namespace fp::cluster {

uint32_t FairShare(uint32_t partitions, size_t live_nodes) {
  if (live_nodes == 0) return partitions;
  return static_cast<uint32_t>((partitions + live_nodes - 1) / live_nodes);
}

LeasePlan PlanLeases(const LeasePlanInput& in) {
  LeasePlan plan;
  std::vector<std::string> live = in.view.live_nodes;
  if (std::find(live.begin(), live.end(), in.self) == live.end()) live.push_back(in.self);
  std::sort(live.begin(), live.end());
  live.erase(std::unique(live.begin(), live.end()), live.end());
  size_t counted = live.size();
  for (const auto& n : std::set<std::string>(in.also_counted.begin(), in.also_counted.end()))
    if (!std::binary_search(live.begin(), live.end(), n)) ++counted;
  const uint32_t cap = FairShare(in.partitions, counted);
  auto preferred = [&](uint32_t p) -> const std::string& { return live[p % live.size()]; };
  auto owner = [&](uint32_t p) -> std::optional<std::string> {
    return p < in.view.owners.size() ? in.view.owners[p] : std::nullopt;
  };

  // Held partitions the bucket still shows as ours; anything else is lost already, and the
  // keeper stops serving it without a plan entry.
  std::vector<uint32_t> kept;
  for (uint32_t p : in.held) {
    if (owner(p) == in.self) kept.push_back(p);
  }
  // Surplus above cap: release first what another node prefers, highest ids first.
  if (kept.size() > cap) {
    std::stable_sort(kept.begin(), kept.end(), [&](uint32_t a, uint32_t b) {
      bool a_mine = preferred(a) == in.self, b_mine = preferred(b) == in.self;
      if (a_mine != b_mine) return a_mine;
      return a < b;
    });
    plan.release.assign(kept.begin() + cap, kept.end());
    kept.resize(cap);
  }
  plan.renew = kept;
  std::sort(plan.renew.begin(), plan.renew.end());

  size_t count = kept.size();
  std::set<uint32_t> held(in.held.begin(), in.held.end());
  // Every free partition gets one taker, the same in every node's plan from the same view: its
  // preferred node when that one is below cap, else the live node with the fewest partitions
  // below cap (ties: the first after the preferred one in sorted order). So a dead node's
  // partitions are all taken at once even when their preferred nodes are full.
  std::map<std::string, uint32_t> load;
  for (const auto& n : live) load[n] = 0;
  for (uint32_t p = 0; p < in.partitions; ++p)
    if (auto o = owner(p); o && load.count(*o)) ++load[*o];
  std::vector<uint32_t> assigned;  // free partitions this node is the taker of
  for (uint32_t p = 0; p < in.partitions; ++p) {
    if (owner(p) || held.count(p)) continue;
    const std::string* taker = nullptr;
    for (size_t k = 0; k < live.size(); ++k) {
      const std::string& n = live[(p + k) % live.size()];
      if (load[n] >= cap) continue;
      if (k == 0 || taker == nullptr || load[n] < load[*taker]) taker = &n;
      if (k == 0) break;  // the preferred node, below cap
    }
    if (taker == nullptr) continue;
    ++load[*taker];
    if (*taker == in.self) assigned.push_back(p);
  }
  auto try_take = [&](bool assigned_only) {
    for (uint32_t p = 0; p < in.partitions && count < cap; ++p) {
      if (owner(p) || held.count(p)) continue;
      if (std::find(plan.take.begin(), plan.take.end(), p) != plan.take.end()) continue;
      bool mine = std::find(assigned.begin(), assigned.end(), p) != assigned.end();
      if (assigned_only && !mine) continue;
      if (!assigned_only) {
        auto it = in.free_since_ms.find(p);
        if (it == in.free_since_ms.end() || in.now_ms - it->second < in.grace_ms) continue;
      }
      plan.take.push_back(p);
      ++count;
    }
  };
  try_take(/*assigned_only=*/true);
  try_take(/*assigned_only=*/false);
  std::sort(plan.take.begin(), plan.take.end());
  return plan;
}

}  // namespace fp::cluster
