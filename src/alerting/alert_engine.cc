#include "alerting/alert_engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "model/time_format.h"
#include "util/json_writer.h"

namespace fp {
namespace {

constexpr std::string_view kDefaultsSeededKey = "default_rules_seeded";

bool is_battery_metric(std::string_view m) {
  return m == "battery_level" || m == "battery";
}

std::string format_number(double v) {
  JsonWriter w;
  w.value(v);
  return w.take();
}

std::string describe(const Rule& r, double value) {
  const std::string v = format_number(value);
  const std::string name = r.name.empty() ? r.id : r.name;
  switch (r.kind) {
    case RuleKind::kThreshold:
      return r.metric + " " + v + " " + std::string(to_string(r.op)) + " " +
             format_number(*r.threshold) + " (rule " + name + ")";
    case RuleKind::kRange:
      return r.metric + " " + v + " outside " + (r.min ? format_number(*r.min) : "-inf") + ".." +
             (r.max ? format_number(*r.max) : "inf") + " (rule " + name + ")";
    case RuleKind::kRate:
      return r.metric + " changes by " + v + " per " + format_duration(r.window_ms) + " " +
             std::string(to_string(r.op)) + " " + format_number(*r.threshold) + " (rule " + name +
             ")";
    case RuleKind::kAbsence:
      return "no " + (r.metric.empty() ? std::string("report") : r.metric + " reading") + " for " +
             format_duration(r.for_ms) + " (rule " + name + ")";
    case RuleKind::kOffline:
      return "device offline" +
             (r.for_ms > 0 ? " for " + format_duration(r.for_ms) : std::string()) + " (rule " +
             name + ")";
    case RuleKind::kLowBattery:
      return "battery " + v + " % is low (rule " + name + ")";
    case RuleKind::kAnomaly:
      return r.metric + " z-score " + v + " is anomalous (rule " + name + ")";
    case RuleKind::kStuck:
      return r.metric + " stuck at " + v + " for " + format_duration(r.for_ms) + " (rule " + name +
             ")";
  }
  return name;
}

// Whether `r`'s scope takes a device with these facts (the facts known, not cached).
bool scope_takes(const RuleScope& s, const std::string& device_id, const DeviceFacts& f) {
  if (!s.devices.empty() &&
      std::find(s.devices.begin(), s.devices.end(), device_id) == s.devices.end())
    return false;
  if (s.type && f.type != *s.type) return false;
  if (s.location && f.location != *s.location) return false;
  return true;
}

}  // namespace

AlertEngine::AlertEngine(Catalog& catalog, const Clock& clock, DeviceFactsLookup facts,
                         AlertEngineOptions options)
    : catalog_(catalog), clock_(clock), facts_(std::move(facts)), options_(options) {}

AlertEngine::~AlertEngine() {
  stop();
}

Status AlertEngine::load(std::span<const Rule> defaults) {
  FP_ASSIGN_OR_RETURN(std::optional<std::string> seeded,
                      catalog_.get_setting(std::string(kDefaultsSeededKey)));
  if (!seeded) {
    const int64_t now = clock_.now_ms();
    for (Rule r : defaults) {
      r.created_at_ms = r.updated_at_ms = now;
      FP_RETURN_IF_ERROR(catalog_.put_rule({r.id, rule_to_json(r), now, now}));
    }
    FP_RETURN_IF_ERROR(catalog_.put_setting(std::string(kDefaultsSeededKey), "1"));
  }
  FP_ASSIGN_OR_RETURN(std::vector<RuleRecord> records, catalog_.list_rules());
  FP_ASSIGN_OR_RETURN(std::vector<Alert> open, catalog_.load_open_alerts());
  FP_ASSIGN_OR_RETURN(int64_t max_id, catalog_.max_alert_id());
  std::vector<Rule> parsed_rules;
  bool any_absence = false;
  for (const RuleRecord& rec : records) {
    auto parsed = parse_rule(rec.json, rec.id);
    if (!parsed.ok()) {
      spdlog::error("event=rule_unreadable rule={} error=\"{}\"", rec.id,
                    parsed.status().message());
      continue;
    }
    parsed->created_at_ms = rec.created_at_ms;
    parsed->updated_at_ms = rec.updated_at_ms;
    any_absence = any_absence || parsed->kind == RuleKind::kAbsence;
    parsed_rules.push_back(std::move(*parsed));
  }
  // Devices silent since before the start are watched from their last report.
  std::vector<KnownDevice> devices;
  if (any_absence && list_devices_) devices = list_devices_();

  std::lock_guard lock(mu_);
  rules_.clear();
  for (Rule& r : parsed_rules) {
    RuleEntry& e = rules_[r.id];
    e.rule = std::move(r);
    watch_known_devices(e, devices);
  }
  open_.clear();
  for (Alert& a : open) {
    if (auto it = rules_.find(a.rule_id); it != rules_.end()) {
      Track& t = it->second.tracks[a.device_id];
      t.active = true;
      t.open_alert = a.id;
    }
    open_.emplace(a.id, std::move(a));
  }
  next_alert_id_ = max_id + 1;
  rebuild_index();
  return Status::Ok();
}

void AlertEngine::add_listener(Listener fn) {
  listeners_.push_back(std::move(fn));
}

void AlertEngine::start() {
  std::lock_guard lock(queue_mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void AlertEngine::stop() {
  {
    std::lock_guard lock(queue_mu_);
    if (!thread_.joinable()) return;
    stopping_ = true;
  }
  queue_cv_.notify_all();
  thread_.join();
}

bool AlertEngine::submit(CommittedWork work) {
  if (work.empty()) return true;
  {
    std::lock_guard lock(queue_mu_);
    if (queue_.size() >= options_.max_queue) {
      ++dropped_;
      return false;
    }
    queue_.push_back(std::move(work));
  }
  queue_cv_.notify_one();
  return true;
}

uint64_t AlertEngine::dropped() const {
  return dropped_.load();
}
uint64_t AlertEngine::persist_errors() const {
  return persist_errors_.load();
}

void AlertEngine::run() {
  auto next_tick = std::chrono::steady_clock::now();
  for (;;) {
    std::deque<CommittedWork> work;
    bool stop_now;
    {
      std::unique_lock lock(queue_mu_);
      queue_cv_.wait_until(lock, next_tick, [this] { return stopping_ || !queue_.empty(); });
      work.swap(queue_);
      stop_now = stopping_;
    }
    for (const CommittedWork& w : work) evaluate(w);
    if (std::chrono::steady_clock::now() >= next_tick) {
      tick();
      next_tick = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.tick_ms);
    }
    if (stop_now) {
      std::lock_guard lock(queue_mu_);
      if (queue_.empty()) return;
    }
  }
}

// ---- rules ----------------------------------------------------------------------------------

void AlertEngine::rebuild_index() {
  by_metric_.clear();
  report_rules_.clear();
  battery_rules_.clear();
  status_rules_.clear();
  bool scoped = false;
  for (auto& [id, e] : rules_) {
    if (!e.rule.enabled) continue;
    scoped = scoped || e.rule.scope.needs_device_facts();
    switch (e.rule.kind) {
      case RuleKind::kOffline:
        status_rules_.push_back(&e);
        break;
      case RuleKind::kLowBattery:
        battery_rules_.push_back(&e);
        break;
      case RuleKind::kAbsence:
        if (e.rule.metric.empty())
          report_rules_.push_back(&e);
        else
          by_metric_[e.rule.metric].push_back(&e);
        break;
      default:
        by_metric_[e.rule.metric].push_back(&e);
    }
  }
  scoped_rules_ = scoped;
}

std::vector<Rule> AlertEngine::rules() const {
  std::lock_guard lock(mu_);
  std::vector<Rule> out;
  out.reserve(rules_.size());
  for (const auto& [id, e] : rules_) out.push_back(e.rule);
  return out;
}

Result<Rule> AlertEngine::rule(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = rules_.find(id);
  if (it == rules_.end()) return Status::NotFound("rule '" + id + "' not found");
  return it->second.rule;
}

Result<Rule> AlertEngine::create_rule(Rule r) {
  const int64_t now = clock_.now_ms();
  {
    std::lock_guard lock(mu_);
    if (r.id.empty()) {
      // "r" + a number not used yet.
      for (size_t n = rules_.size() + 1;; ++n) {
        std::string id = "r" + std::to_string(n);
        if (!rules_.contains(id)) {
          r.id = std::move(id);
          break;
        }
      }
      if (r.name.empty()) r.name = r.id;
    } else if (rules_.contains(r.id)) {
      return Status::AlreadyExists("rule '" + r.id + "' already exists");
    }
  }
  r.created_at_ms = r.updated_at_ms = now;
  FP_RETURN_IF_ERROR(catalog_.put_rule({r.id, rule_to_json(r), now, now}));
  std::vector<KnownDevice> devices;
  if (r.kind == RuleKind::kAbsence && list_devices_) devices = list_devices_();
  std::lock_guard lock(mu_);
  RuleEntry& e = rules_[r.id];
  e.rule = r;
  e.tracks.clear();
  watch_known_devices(e, devices);
  rebuild_index();
  return r;
}

Result<Rule> AlertEngine::replace_rule(Rule r) {
  const int64_t now = clock_.now_ms();
  {
    std::lock_guard lock(mu_);
    auto it = rules_.find(r.id);
    if (it == rules_.end()) return Status::NotFound("rule '" + r.id + "' not found");
    r.created_at_ms = it->second.rule.created_at_ms;
  }
  r.updated_at_ms = now;
  FP_RETURN_IF_ERROR(catalog_.put_rule({r.id, rule_to_json(r), r.created_at_ms, now}));
  std::vector<KnownDevice> devices;
  if (r.kind == RuleKind::kAbsence && r.enabled && list_devices_) devices = list_devices_();
  Changes changes;
  {
    std::lock_guard lock(mu_);
    RuleEntry& e = rules_[r.id];
    e.rule = r;
    if (!r.enabled) {
      resolve_rule_alerts(e, "rule_disabled", now, changes);
      e.tracks.clear();
    } else {
      // Start the rule's memory afresh, keeping the link to alerts that are still open.
      std::unordered_map<std::string, Track> kept;
      for (auto& [device, t] : e.tracks) {
        if (!t.open_alert) continue;
        Track& k = kept[device];
        k.active = true;
        k.open_alert = t.open_alert;
      }
      e.tracks.swap(kept);
      watch_known_devices(e, devices);
    }
    rebuild_index();
  }
  publish(changes);
  return r;
}

Status AlertEngine::delete_rule(const std::string& id) {
  FP_RETURN_IF_ERROR(catalog_.delete_rule(id));
  Changes changes;
  {
    std::lock_guard lock(mu_);
    auto it = rules_.find(id);
    if (it != rules_.end()) {
      resolve_rule_alerts(it->second, "rule_deleted", clock_.now_ms(), changes);
      rules_.erase(it);
    }
    rebuild_index();
  }
  publish(changes);
  return Status::Ok();
}

void AlertEngine::resolve_rule_alerts(RuleEntry& e, const std::string& by, int64_t now,
                                      Changes& out) {
  for (auto& [device, t] : e.tracks) {
    if (!t.open_alert) continue;
    if (auto it = open_.find(t.open_alert); it != open_.end())
      close_alert(it->second, by, "", now, out);
    t.open_alert = 0;
  }
}

// ---- alert actions --------------------------------------------------------------------------

Result<Alert> AlertEngine::raise(const ManualAlert& m) {
  Changes changes;
  Alert a;
  {
    std::lock_guard lock(mu_);
    const int64_t now = clock_.now_ms();
    a.id = new_alert_id(m.device_id, now);
    a.device_id = m.device_id;
    a.severity = m.severity;
    a.message = m.message;
    a.value = m.value;
    a.started_at_ms = a.updated_at_ms = a.condition_at_ms = now;
    a.version = 1;
    open_.emplace(a.id, a);
    changes.push_back(change_for(a));
  }
  publish(changes);
  return a;
}

Result<Alert> AlertEngine::acknowledge(int64_t id, const std::string& by, const std::string& note) {
  Changes changes;
  std::optional<Alert> done;
  {
    std::lock_guard lock(mu_);
    if (auto it = open_.find(id); it != open_.end()) {
      Alert& a = it->second;
      const int64_t now = clock_.now_ms();
      if (a.state == AlertState::kFiring) a.acknowledged_at_ms = now;
      a.state = AlertState::kAcknowledged;
      a.acknowledged_by = by;
      a.note = note;
      a.updated_at_ms = now;
      ++a.version;
      done = a;
      changes.push_back(change_for(a));
    }
  }
  if (!done) {
    FP_ASSIGN_OR_RETURN(Alert stored, catalog_.get_alert(id));
    return Status::AlreadyExists("alert '" + std::to_string(id) + "' is already " +
                                 std::string(to_string(stored.state)));
  }
  publish(changes);
  return *done;
}

Result<Alert> AlertEngine::resolve(int64_t id, const std::string& by, const std::string& note) {
  Changes changes;
  std::optional<Alert> done;
  {
    std::lock_guard lock(mu_);
    if (auto it = open_.find(id); it != open_.end()) {
      Alert& a = it->second;
      // The condition may still hold: the track stays active, so it fires again only after
      // the condition has cleared and come back.
      if (auto r = rules_.find(a.rule_id); r != rules_.end())
        if (auto t = r->second.tracks.find(a.device_id); t != r->second.tracks.end())
          t->second.open_alert = 0;
      close_alert(a, by, note, clock_.now_ms(), changes);  // erases `a`
      done = changes.back().alert;
    }
  }
  if (!done) {
    FP_ASSIGN_OR_RETURN(Alert stored, catalog_.get_alert(id));
    return Status::AlreadyExists("alert '" + std::to_string(id) + "' is already " +
                                 std::string(to_string(stored.state)));
  }
  publish(changes);
  return *done;
}

void AlertEngine::forget_alerts() {
  std::lock_guard lock(mu_);
  open_.clear();
  for (auto& [id, e] : rules_) e.tracks.clear();
}

void AlertEngine::forget_device(const std::string& device_id) {
  Changes changes;
  {
    std::lock_guard lock(mu_);
    const int64_t now = clock_.now_ms();
    for (auto& [id, e] : rules_) e.tracks.erase(device_id);
    std::vector<int64_t> ids;
    for (const auto& [id, a] : open_)
      if (a.device_id == device_id) ids.push_back(id);
    for (int64_t id : ids) close_alert(open_.at(id), "device_deleted", "", now, changes);
  }
  publish(changes);
}

std::array<int64_t, kSeverityCount> AlertEngine::open_counts() const {
  std::array<int64_t, kSeverityCount> counts{};
  std::lock_guard lock(mu_);
  for (const auto& [id, a] : open_) ++counts[static_cast<size_t>(a.severity)];
  return counts;
}

int64_t AlertEngine::open_total() const {
  std::lock_guard lock(mu_);
  return static_cast<int64_t>(open_.size());
}

// ---- evaluation -----------------------------------------------------------------------------

void AlertEngine::prefetch_facts(const CommittedWork& work) {
  if (!scoped_rules_.load() || !facts_) return;
  const int64_t now = clock_.now_ms();
  auto refresh = [&](const std::string& id) {
    {
      std::lock_guard lock(facts_mu_);
      auto it = facts_cache_.find(id);
      if (it != facts_cache_.end() && now - it->second.fetched_ms < options_.facts_ttl_ms) return;
    }
    std::optional<DeviceFacts> f = facts_(id);  // may read the catalog: no lock held
    std::lock_guard lock(facts_mu_);
    facts_cache_[id] = {std::move(f), now};
  };
  for (const auto& b : work.batches)
    for (const auto& id : b->devices()) refresh(id);
  for (const auto& h : work.heartbeats) refresh(h.device_id);
  for (const auto& t : work.transitions) refresh(t.device_id);
}

bool AlertEngine::in_scope(const Rule& r, const std::string& device_id, int64_t) {
  const RuleScope& s = r.scope;
  if (!s.devices.empty() &&
      std::find(s.devices.begin(), s.devices.end(), device_id) == s.devices.end())
    return false;
  if (!s.needs_device_facts()) return true;
  std::lock_guard lock(facts_mu_);
  auto it = facts_cache_.find(device_id);
  if (it == facts_cache_.end() || !it->second.facts) return false;
  const DeviceFacts& f = *it->second.facts;
  if (s.type && f.type != *s.type) return false;
  if (s.location && f.location != *s.location) return false;
  return true;
}

void AlertEngine::evaluate(const CommittedWork& work) {
  prefetch_facts(work);
  Changes changes;
  {
    std::lock_guard lock(mu_);
    const int64_t now = clock_.now_ms();
    for (size_t bi = 0; bi < work.batches.size(); ++bi) {
      const ReadingBatch& b = *work.batches[bi];
      const int64_t seen = bi < work.received_ms.size() && work.received_ms[bi] > 0
                               ? std::min(work.received_ms[bi], now)
                               : now;
      // Rules per metric of this batch, looked up once.
      std::vector<const std::vector<RuleEntry*>*> metric_rules(b.metrics().size(), nullptr);
      std::vector<bool> battery(b.metrics().size(), false);
      for (size_t m = 0; m < b.metrics().size(); ++m) {
        if (auto it = by_metric_.find(b.metrics()[m]); it != by_metric_.end())
          metric_rules[m] = &it->second;
        battery[m] = is_battery_metric(b.metrics()[m]) && !battery_rules_.empty();
      }
      for (const Point& p : b.points()) {
        const std::string& device = b.devices()[p.device];
        if (const auto* list = metric_rules[p.metric])
          for (RuleEntry* e : *list) {
            if (!in_scope(e->rule, device, now)) continue;
            if (e->rule.kind == RuleKind::kAbsence)
              mark_seen(*e, device, seen, now, changes);
            else
              observe_value(*e, device, p.value, p.ts_ms, now, changes);
          }
        if (battery[p.metric])
          for (RuleEntry* e : battery_rules_)
            if (in_scope(e->rule, device, now))
              observe_value(*e, device, p.value, p.ts_ms, now, changes);
      }
      for (const auto& device : b.devices()) observe_report(device, seen, now, changes);
    }
    for (const HeartbeatObservation& h : work.heartbeats) {
      observe_report(h.device_id, h.received_ms > 0 ? std::min(h.received_ms, now) : now, now,
                     changes);
      if (!h.battery_level) continue;
      for (RuleEntry* e : battery_rules_)
        if (in_scope(e->rule, h.device_id, now))
          observe_value(*e, h.device_id, *h.battery_level, now, now, changes);
    }
    for (const StatusTransition& st : work.transitions) {
      for (RuleEntry* e : status_rules_) {
        if (!in_scope(e->rule, st.device_id, now)) continue;
        Track& t = e->tracks[st.device_id];
        apply(*e, st.device_id, t, st.to == DeviceStatus::kOffline, 0, st.at_ms, now, changes);
      }
    }
  }
  publish(changes);
}

void AlertEngine::mark_seen(RuleEntry& e, const std::string& device, int64_t seen, int64_t now,
                            Changes& out) {
  Track& t = e.tracks[device];
  t.last_seen_ms = std::max(t.last_seen_ms, seen);
  if (t.active && t.open_alert)
    if (auto it = open_.find(t.open_alert); it != open_.end() && seen < it->second.condition_at_ms)
      return;  // a report from before the silence began (a replay): the silence goes on
  apply(e, device, t, false, 0, now, now, out);
}

void AlertEngine::observe_report(const std::string& device, int64_t seen, int64_t now,
                                 Changes& out) {
  for (RuleEntry* e : report_rules_)
    if (in_scope(e->rule, device, now)) mark_seen(*e, device, seen, now, out);
}

void AlertEngine::observe_value(RuleEntry& e, const std::string& device, double value,
                                int64_t ts_ms, int64_t now, Changes& out) {
  const Rule& r = e.rule;
  Track& t = e.tracks[device];
  std::optional<bool> condition;
  double shown = value;
  switch (r.kind) {
    case RuleKind::kThreshold:
      condition = compare(value, r.op, *r.threshold);
      break;
    case RuleKind::kRange:
      condition = (r.min && value < *r.min) || (r.max && value > *r.max);
      break;
    case RuleKind::kLowBattery:
      condition = value < r.threshold.value_or(options_.low_battery_pct);
      break;
    case RuleKind::kRate:
      if (t.has_last && ts_ms > t.last_ts) {
        shown = (value - t.last_value) / static_cast<double>(ts_ms - t.last_ts) *
                static_cast<double>(r.window_ms);
        condition = compare(shown, r.op, *r.threshold);
      }
      if (!t.has_last || ts_ms > t.last_ts) {
        t.has_last = true;
        t.last_value = value;
        t.last_ts = ts_ms;
      }
      break;
    case RuleKind::kAnomaly: {
      if (t.samples >= r.min_samples) {
        const double sd = std::sqrt(t.var);
        const double dev = std::abs(value - t.mean);
        shown = sd > 0 ? dev / sd : (dev == 0 ? 0.0 : HUGE_VAL);
        condition = shown > r.threshold.value_or(3.0);
        if (!std::isfinite(shown)) shown = value;
      }
      // EWMA of mean and variance (West's incremental form).
      if (t.samples == 0) {
        t.mean = value;
        t.var = 0;
      } else {
        const double diff = value - t.mean;
        const double incr = r.alpha * diff;
        t.mean += incr;
        t.var = (1 - r.alpha) * (t.var + diff * incr);
      }
      ++t.samples;
      break;
    }
    case RuleKind::kStuck:
      if (!t.has_last || std::abs(value - t.last_value) > r.tolerance) {
        t.has_last = true;
        t.last_value = value;
        t.last_change_ms = now;
        condition = false;
      } else {
        condition = now - t.last_change_ms >= r.for_ms;
      }
      break;
    case RuleKind::kAbsence:
    case RuleKind::kOffline:
      return;
  }
  apply(e, device, t, condition, shown, ts_ms, now, out);
}

void AlertEngine::apply(RuleEntry& e, const std::string& device, Track& t,
                        std::optional<bool> condition, double value, int64_t condition_at,
                        int64_t now, Changes& out) {
  if (!condition) return;  // no verdict yet (still learning)
  if (!*condition) {
    t.pending_since.reset();
    if (t.active) {
      t.active = false;
      if (t.open_alert) {
        if (auto it = open_.find(t.open_alert); it != open_.end())
          close_alert(it->second, "auto", "", now, out);
        t.open_alert = 0;
      }
    }
    return;
  }
  if (t.active) return;  // dedup: already fired for this (rule, device)
  // Stuck and absence measure their own duration; the others wait `for` here.
  const bool own_duration = e.rule.kind == RuleKind::kStuck || e.rule.kind == RuleKind::kAbsence;
  if (!t.pending_since) {
    t.pending_since = now;
    t.pending_value = value;
    t.pending_condition_at = condition_at;
  }
  if (own_duration)
    fire(e, device, t, value, condition_at, now, out);
  else if (now - *t.pending_since >= e.rule.for_ms)
    fire(e, device, t, value, t.pending_condition_at, now, out);
}

void AlertEngine::fire(RuleEntry& e, const std::string& device, Track& t, double value,
                       int64_t condition_at, int64_t now, Changes& out) {
  t.active = true;
  t.pending_since.reset();
  Alert a;
  a.id = new_alert_id(device, now);
  a.rule_id = e.rule.id;
  a.device_id = device;
  a.severity = e.rule.severity;
  a.message = describe(e.rule, value);
  if (e.rule.kind != RuleKind::kAbsence && e.rule.kind != RuleKind::kOffline) a.value = value;
  a.started_at_ms = a.updated_at_ms = now;
  a.condition_at_ms = condition_at;
  a.version = 1;
  t.open_alert = a.id;
  auto [it, inserted] = open_.emplace(a.id, std::move(a));
  out.push_back(change_for(it->second));
}

void AlertEngine::close_alert(Alert& a, const std::string& by, const std::string& note, int64_t now,
                              Changes& out) {
  a.state = AlertState::kResolved;
  a.resolved_at_ms = now;
  a.resolved_by = by;
  if (!note.empty()) a.note = note;
  a.updated_at_ms = now;
  ++a.version;
  out.push_back(change_for(a));
  const int64_t id = a.id;  // `a` lives in open_: erase by a copy of its key
  open_.erase(id);
}

AlertChange AlertEngine::change_for(const Alert& a) const {
  AlertChange c{a, {}, {}};
  if (auto it = rules_.find(a.rule_id); it != rules_.end()) {
    c.rule_name = it->second.rule.name;
    c.webhooks = it->second.rule.webhooks;
  }
  return c;
}

void AlertEngine::set_owner_filter(std::function<bool(const std::string&)> owned) {
  std::lock_guard lock(mu_);
  owned_ = std::move(owned);
}

void AlertEngine::set_id_allocator(std::function<int64_t(const std::string&, int64_t)> next_id) {
  std::lock_guard lock(mu_);
  next_id_ = std::move(next_id);
}

int64_t AlertEngine::new_alert_id(const std::string& device_id, int64_t now) {
  if (!next_id_) return next_alert_id_++;
  int64_t id = next_id_(device_id, now);
  while (open_.count(id)) id = next_id_(device_id, now);
  return id;
}

void AlertEngine::adopt(const std::function<bool(const std::string&)>& in_scope,
                        const std::vector<Alert>& carried) {
  std::vector<Alert> writes;
  {
    std::lock_guard lock(mu_);
    const int64_t now = clock_.now_ms();
    std::map<std::pair<std::string, std::string>, const Alert*> want;  // (rule, device)
    std::map<int64_t, const Alert*> want_manual;                       // by id
    for (const Alert& c : carried) {
      if (!c.open() || !in_scope(c.device_id)) continue;
      if (!c.rule_id.empty())
        want[{c.rule_id, c.device_id}] = &c;
      else if (c.id > 0)
        want_manual[c.id] = &c;
    }
    std::vector<int64_t> stale;
    for (const auto& [id, a] : open_) {
      if (!in_scope(a.device_id)) continue;
      if (a.rule_id.empty() ? !want_manual.count(id) : !want.count({a.rule_id, a.device_id}))
        stale.push_back(id);
    }
    for (int64_t id : stale) {
      Alert& a = open_.at(id);
      if (auto r = rules_.find(a.rule_id); r != rules_.end())
        if (auto t = r->second.tracks.find(a.device_id); t != r->second.tracks.end()) {
          t->second.active = false;
          t->second.open_alert = 0;
        }
      a.state = AlertState::kResolved;
      a.resolved_at_ms = a.updated_at_ms = now;
      a.resolved_by = "cluster";
      ++a.version;
      writes.push_back(a);
      open_.erase(id);
    }
    // Takes the carried state into `mine` when it is newer (acknowledged by another owner).
    auto take_newer = [&writes](Alert& mine, const Alert& c) {
      if (c.version <= mine.version) return;
      const int64_t id = mine.id;
      mine = c;
      mine.id = id;
      writes.push_back(mine);
    };
    for (const auto& [key, c] : want) {
      auto r = rules_.find(key.first);
      if (r == rules_.end()) {
        spdlog::warn("event=alert_adopt_skipped rule={} device={} reason=\"unknown rule\"",
                     key.first, key.second);
        continue;
      }
      Track& t = r->second.tracks[key.second];
      t.active = true;
      t.pending_since.reset();
      if (auto it = open_.find(t.open_alert); t.open_alert && it != open_.end()) {
        take_newer(it->second, *c);  // still open here
        continue;
      }
      Alert a = *c;
      if (a.id <= 0 || open_.count(a.id)) a.id = new_alert_id(a.device_id, now);
      t.open_alert = a.id;
      open_.emplace(a.id, a);
      writes.push_back(std::move(a));
    }
    for (const auto& [id, c] : want_manual) {
      if (auto it = open_.find(id); it != open_.end()) {
        if (it->second.rule_id.empty() && it->second.device_id == c->device_id)
          take_newer(it->second, *c);
        else  // another alert under the same id here: cannot happen with cluster ids
          spdlog::warn("event=alert_adopt_skipped alert={} reason=\"id in use\"", id);
        continue;
      }
      open_.emplace(id, *c);
      writes.push_back(*c);
    }
  }
  for (const Alert& a : writes) {
    if (Status s = catalog_.put_alert(a); !s.ok()) {
      ++persist_errors_;
      spdlog::error("event=alert_persist_failed alert={} error=\"{}\"", a.id, s.message());
    }
    spdlog::info("event=alert_adopted alert={} rule={} device={} state={}", a.id, a.rule_id,
                 a.device_id, to_string(a.state));
  }
}

void AlertEngine::tick() {
  Changes changes;
  {
    std::lock_guard lock(mu_);
    const int64_t now = clock_.now_ms();
    auto owned = [this](const std::string& device) { return !owned_ || owned_(device); };
    for (auto& [id, e] : rules_) {
      if (!e.rule.enabled) continue;
      const RuleKind k = e.rule.kind;
      if (k == RuleKind::kAbsence) {
        for (auto& [device, t] : e.tracks)
          if (!t.active && t.last_seen_ms > 0 && now - t.last_seen_ms >= e.rule.for_ms &&
              owned(device))
            apply(e, device, t, true, 0, t.last_seen_ms + e.rule.for_ms, now, changes);
      } else if (e.rule.for_ms > 0 && k != RuleKind::kStuck) {
        for (auto& [device, t] : e.tracks)
          if (!t.active && t.pending_since && now - *t.pending_since >= e.rule.for_ms &&
              owned(device))
            fire(e, device, t, t.pending_value, t.pending_condition_at, now, changes);
      }
    }
  }
  publish(changes);
}

void AlertEngine::watch_known_devices(RuleEntry& e, const std::vector<KnownDevice>& devices) {
  const Rule& r = e.rule;
  if (r.kind != RuleKind::kAbsence || !r.enabled) return;
  for (const KnownDevice& d : devices) {
    if (!d.last_seen_ms || !scope_takes(r.scope, d.device_id, d.facts)) continue;
    int64_t seen = *d.last_seen_ms;
    if (!r.metric.empty()) {
      // The metric's newest point (device time) tells whether it came with the last report:
      // within `for` of it counts as the last report (a device clock a little behind), older
      // means the metric stopped before the device did.
      const std::optional<int64_t> sent =
          metric_seen_ ? metric_seen_(d.device_id, r.metric) : std::nullopt;
      if (!sent) continue;
      if (*sent < seen - r.for_ms) seen = *sent;
    }
    Track& t = e.tracks[d.device_id];
    t.last_seen_ms = std::max(t.last_seen_ms, seen);
  }
}

void AlertEngine::publish(Changes& changes) {
  for (const AlertChange& c : changes) {
    // The change and its webhook deliveries in one transaction: a delivery is never lost
    // for a change that was stored, nor sent for one that was not.
    std::vector<WebhookDelivery> deliveries;
    if (outbox_) deliveries = outbox_->plan(c);
    Status s = deliveries.empty() ? catalog_.put_alert(c.alert)
                                  : catalog_.put_alert_with_deliveries(c.alert, deliveries);
    if (!s.ok()) {
      ++persist_errors_;
      spdlog::error("event=alert_persist_failed alert={} error=\"{}\"", c.alert.id, s.message());
    }
    if (!deliveries.empty()) outbox_->queued(std::move(deliveries));
    if (c.alert.state == AlertState::kFiring && c.alert.version == 1)
      spdlog::info("event=alert_firing alert={} rule={} device={} severity={} message=\"{}\"",
                   c.alert.id, c.alert.rule_id, c.alert.device_id, to_string(c.alert.severity),
                   c.alert.message);
    else if (c.alert.state == AlertState::kResolved)
      spdlog::info("event=alert_resolved alert={} rule={} device={} by={}", c.alert.id,
                   c.alert.rule_id, c.alert.device_id, c.alert.resolved_by);
    for (const auto& fn : listeners_) fn(c);
  }
}

}  // namespace fp
