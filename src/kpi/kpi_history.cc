#include "kpi/kpi_history.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <unordered_set>

#include "kpi/device_kpis.h"
#include "kpi/kpi_series_keys.h"
#include "storage/tsdb/time_series_store.h"

namespace fp {
namespace {

constexpr int64_t kHourMs = DeviceActivityLog::kHourMs;
// How close to a sample a registration makes it count the never-seen devices in SQL: the
// tracker's created_at of a device may differ from the catalog's by the moments between them.
constexpr int64_t kRegisteredJustNowMs = 1000;

int64_t hour_of(int64_t ms) {
  return ms >= 0 ? ms / kHourMs : (ms - kHourMs + 1) / kHourMs;
}

uint64_t minus(uint64_t a, uint64_t b) {
  return a > b ? a - b : 0;
}

// Reports counted since `base`, from the hour holding now and the hour before.
ActivityTotals counted_since(int64_t hour, const ActivityTotals& now, const ActivityTotals& before,
                             int64_t base_hour, const ActivityTotals& base) {
  ActivityTotals d;
  if (base_hour == hour) {
    d.messages = minus(now.messages, base.messages);
    d.rejected = minus(now.rejected, base.rejected);
  } else if (base_hour == hour - 1) {
    d.messages = minus(before.messages, base.messages) + now.messages;
    d.rejected = minus(before.rejected, base.rejected) + now.rejected;
  } else {  // more than an hour since the baseline: what the two kept hours hold
    d.messages = before.messages + now.messages;
    d.rejected = before.rejected + now.rejected;
  }
  return d;
}

// A device that has reported (or has a known status): what the catalog's load_seen_devices
// loads and count_unseen_devices_by_type leaves out.
bool has_reported(const Device& d) {
  return d.last_seen_ms || d.status != DeviceStatus::kUnknown;
}

// The points of one device's KPI key, or none when the device has nothing to record.
struct BatchSink {
  ReadingBatch& batch;
  bool record;
  uint32_t key;
  void add(uint32_t metric, int64_t ts, double value) {
    if (record) batch.add(key, metric, ts, value);
  }
};

struct TypeRollup {
  int64_t devices = 0;
  double availability = 0, uptime = 0, response = 0, battery = 0;
  int64_t with_period = 0, with_response = 0, with_battery = 0;
  uint64_t messages = 0, errors = 0;
  bool counted = false;
};

}  // namespace

KpiHistorySampler::KpiHistorySampler(Catalog& catalog, const DeviceStatusTracker& tracker,
                                     const DeviceActivityLog& activity, Ingestor& ingestor,
                                     const Clock& clock, int64_t interval_ms)
    : catalog_(catalog),
      tracker_(tracker),
      activity_(activity),
      ingestor_(ingestor),
      clock_(clock),
      interval_ms_(interval_ms) {}

KpiHistorySampler::~KpiHistorySampler() {
  stop();
}

void KpiHistorySampler::start() {
  thread_ = std::thread([this] { run(); });
}

void KpiHistorySampler::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void KpiHistorySampler::restore(const tsdb::TimeSeriesStore& store) {
  const auto& index = store.index();
  auto last_point = [&](std::string_view key,
                        std::string_view metric) -> std::optional<tsdb::Sample> {
    const auto id = index.find(key, metric);
    if (!id) return std::nullopt;
    const auto span = store.time_span(*id);
    if (!span) return std::nullopt;
    std::optional<tsdb::Sample> out;
    store.scan(*id, span->second, span->second, [&](const tsdb::Sample& s) { out = s; });
    return out;
  };
  const auto sampled = last_point(kpi_keys::kSampledKey, "sampled");
  if (!sampled) return;  // never sampled: the first sample takes the baseline
  const int64_t hour = hour_of(sampled->ts);
  for (const std::string& key : index.devices()) {
    if (!key.starts_with(kpi_keys::kBaselinePrefix)) continue;
    const std::string id = key.substr(kpi_keys::kBaselinePrefix.size());
    const auto m = last_point(key, "hour_messages");
    const auto e = last_point(key, "hour_errors");
    if (!m || !e) continue;
    const Baseline written{hour_of(m->ts),
                           {static_cast<uint64_t>(m->value), 0, static_cast<uint64_t>(e->value)}};
    written_[id] = written;
    // Written only when they changed: a last write in an earlier hour means no reports in the
    // last sample's hour up to it.
    baseline_[id] = written.hour == hour ? written : Baseline{hour, {}};
  }
  last_ms_ = sampled->ts;
  restored_ = true;
}

Result<std::shared_ptr<ReadingBatch>> KpiHistorySampler::measure(int64_t now) {
  // Counts go from the previous sample (restored after a restart); status and response times
  // cover one interval after a restart (the server was down before it).
  const int64_t count_from = last_ms_ > 0 && last_ms_ < now ? last_ms_ : now - interval_ms_;
  const int64_t prev = restored_ ? now - interval_ms_ : count_from;
  restored_ = false;
  const bool have_baseline = last_ms_ > 0;
  // Devices that never reported are counted per type, not loaded one by one: the status
  // tracker keeps those counts, so a fleet of registered idle devices costs no read at all.
  // While the catalog has not caught up with the tracker (the devices do not add up: reports
  // or registrations not written yet), or a device was registered about `now` (created_at
  // decides whether its interval counts), one SQL scan counts them as the catalog has them.
  // Those among them with reports in the activity log (e.g. just seen, the catalog not
  // written yet) are loaded below.
  const DeviceStatusTracker::NeverSeen never = tracker_.never_seen();
  FP_ASSIGN_OR_RETURN(std::vector<Device> devices,
                      catalog_.load_seen_devices(never.devices > never.tracked / 2));
  std::vector<Catalog::UnseenDevices> unseen;
  if (never.newest_created_ms < now - kRegisteredJustNowMs &&
      never.tracked == never.devices + static_cast<int64_t>(devices.size())) {
    for (const auto& [type, n] : never.by_type) unseen.push_back({type, n, n});
  } else {
    FP_ASSIGN_OR_RETURN(unseen, catalog_.count_unseen_devices_by_type(now));
  }
  std::unordered_map<std::string, std::vector<StatusTransition>> history;
  FP_RETURN_IF_ERROR(catalog_.scan_status_history(prev, [&](const StatusTransition& t) {
    if (t.at_ms <= now) history[t.device_id].push_back(t);
  }));
  std::unordered_map<std::string, double> response;
  activity_.for_each(prev + 1, [&](const std::string& id, const DeviceActivity& a) {
    if (a.response_ms.empty()) return;
    double sum = 0;
    for (double v : a.response_ms) sum += v;
    response[id] = sum / static_cast<double>(a.response_ms.size());
  });
  const int64_t hour = hour_of(now);
  struct Recent {
    ActivityTotals now, before;  // this hour's and the previous hour's counters
  };
  std::unordered_map<std::string, Recent> recent;
  activity_.for_each_recent_hours(
      now, [&](const std::string& id, const ActivityTotals& cur, const ActivityTotals& before) {
        recent[id] = {cur, before};
      });
  {
    std::unordered_set<std::string_view> loaded;
    for (const Device& d : devices) loaded.insert(d.device_id);
    std::vector<std::string> missing;
    for (const auto& [id, r] : recent)
      if (!loaded.contains(id)) missing.push_back(id);
    for (const auto& [id, r] : response)
      if (!loaded.contains(id) && !recent.contains(id)) missing.push_back(id);
    for (const std::string& id : missing) {
      Result<Device> d = catalog_.get_device(id);
      if (!d.ok()) continue;  // deleted since
      if (!has_reported(*d)) {
        for (auto& u : unseen)  // counted with the unseen: counted here instead
          if (u.type == d->type) {
            --u.devices;
            if (d->created_at_ms < now) --u.created_before;
          }
      }
      devices.push_back(std::move(*d));
    }
  }
  // Reports since the previous sample; a device created since then counts from zero (its id
  // may have been used before: the old counters are not its own).
  auto counted = [&](const Device& d, const Recent& r) {
    const auto b = baseline_.find(d.device_id);
    if (b == baseline_.end() || d.created_at_ms > count_from)
      return counted_since(hour, r.now, r.before, hour_of(count_from), {});
    return counted_since(hour, r.now, r.before, b->second.hour, b->second.totals);
  };
  last_ms_ = now;

  auto batch = std::make_shared<ReadingBatch>();
  std::map<std::string, TypeRollup> types;
  uint32_t m[kpi_keys::kMetrics.size()];
  for (size_t i = 0; i < kpi_keys::kMetrics.size(); ++i)
    m[i] = batch->intern_metric(kpi_keys::kMetrics[i]);
  enum { kAvail, kUptime, kResponse, kMessages, kErrors, kBattery, kDevices };
  const uint32_t base_messages = batch->intern_metric("hour_messages");
  const uint32_t base_errors = batch->intern_metric("hour_errors");
  std::unordered_map<std::string, Baseline> next_baseline;
  static const std::vector<StatusTransition> kNone;
  for (const Device& d : devices) {
    TypeRollup* t = d.type.empty() ? nullptr : &types[d.type];
    if (t) ++t->devices;
    const auto live = tracker_.get(d.device_id);
    const auto r = recent.find(d.device_id);
    // A device that never reported anything has nothing of its own to record (never available,
    // no reports, no battery): no series for it (a registered idle device costs no head
    // series); its type's roll-up still counts it. Its history starts once it reports.
    const bool to_record =
        r != recent.end() || response.contains(d.device_id) ||
        (live ? live->last_seen_ms || live->battery_level || live->status != DeviceStatus::kUnknown
              : has_reported(d));
    BatchSink sink{*batch, to_record,
                   to_record ? batch->intern_device(kpi_keys::device_key(d.device_id)) : 0};
    const int64_t start = std::max(prev, d.created_at_ms);
    if (start < now) {
      const auto it = history.find(d.device_id);
      std::span<const StatusTransition> in = it == history.end() ? kNone : it->second;
      while (!in.empty() && in.front().at_ms < start) in = in.subspan(1);
      const StatusTimes st = status_times(live ? live->status : d.status, in, start, now);
      if (st.period_ms > 0) {
        const double p = static_cast<double>(st.period_ms);
        const double avail = 100.0 * static_cast<double>(st.online_ms) / p;
        const double up = 100.0 * static_cast<double>(st.online_ms + st.at_risk_ms) / p;
        sink.add(m[kAvail], now, avail);
        sink.add(m[kUptime], now, up);
        if (t) {
          t->availability += avail;
          t->uptime += up;
          ++t->with_period;
        }
      }
    }
    if (auto rt = response.find(d.device_id); rt != response.end()) {
      sink.add(m[kResponse], now, rt->second);
      if (t) {
        t->response += rt->second;
        ++t->with_response;
      }
    }
    if (r != recent.end()) {
      // What the next sample counts from, written with this one when it changed.
      const Baseline nb{hour, r->second.now};
      next_baseline[d.device_id] = nb;
      if (d.created_at_ms > count_from) written_.erase(d.device_id);
      const auto w = written_.find(d.device_id);
      const bool zero = nb.totals.messages == 0 && nb.totals.rejected == 0;
      const bool same = w != written_.end() && w->second.hour == hour &&
                        w->second.totals.messages == nb.totals.messages &&
                        w->second.totals.rejected == nb.totals.rejected;
      if (!same && !(zero && (w == written_.end() || w->second.hour != hour))) {
        const uint32_t bkey = batch->intern_device(kpi_keys::baseline_key(d.device_id));
        batch->add(bkey, base_messages, now, static_cast<double>(nb.totals.messages));
        batch->add(bkey, base_errors, now, static_cast<double>(nb.totals.rejected));
        written_[d.device_id] = nb;
      }
    }
    if (have_baseline) {
      const ActivityTotals n = r == recent.end() ? ActivityTotals{} : counted(d, r->second);
      sink.add(m[kMessages], now, static_cast<double>(n.messages));
      sink.add(m[kErrors], now, static_cast<double>(n.rejected));
      if (t) {
        t->messages += n.messages;
        t->errors += n.rejected;
        t->counted = true;
      }
    }
    if (live && live->battery_level) {
      sink.add(m[kBattery], now, *live->battery_level);
      if (t) {
        t->battery += *live->battery_level;
        ++t->with_battery;
      }
    }
  }
  // The devices that never reported: never available, no reports, no battery.
  int64_t fleet = static_cast<int64_t>(devices.size());
  for (const Catalog::UnseenDevices& u : unseen) {
    fleet += u.devices;
    if (u.type.empty() || u.devices <= 0) continue;
    TypeRollup& t = types[u.type];
    t.devices += u.devices;
    t.with_period += u.created_before;
    if (have_baseline) t.counted = true;
  }
  baseline_ = std::move(next_baseline);
  if (fleet > 0)  // nothing to count from without devices: no mark either
    batch->add(batch->intern_device(kpi_keys::kSampledKey), batch->intern_metric("sampled"), now,
               static_cast<double>(fleet));
  for (const auto& [type, t] : types) {
    const uint32_t key = batch->intern_device(kpi_keys::type_key(type));
    batch->add(key, m[kDevices], now, static_cast<double>(t.devices));
    if (t.with_period > 0) {
      batch->add(key, m[kAvail], now, t.availability / static_cast<double>(t.with_period));
      batch->add(key, m[kUptime], now, t.uptime / static_cast<double>(t.with_period));
    }
    if (t.with_response > 0)
      batch->add(key, m[kResponse], now, t.response / static_cast<double>(t.with_response));
    if (t.counted) {
      batch->add(key, m[kMessages], now, static_cast<double>(t.messages));
      batch->add(key, m[kErrors], now, static_cast<double>(t.errors));
    }
    if (t.with_battery > 0)
      batch->add(key, m[kBattery], now, t.battery / static_cast<double>(t.with_battery));
  }
  return batch;
}

void KpiHistorySampler::run() {
  auto next = std::chrono::steady_clock::now();
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    auto batch = measure(clock_.now_ms());
    if (!batch.ok()) {
      spdlog::error("event=kpi_history_failed reason=\"{}\"", batch.status().message());
    } else if (!(*batch)->points().empty()) {
      ingestor_.submit_derived(std::move(*batch), [](Status s) {
        if (!s.ok()) spdlog::error("event=kpi_history_write_failed reason=\"{}\"", s.message());
      });
    }
    lock.lock();
    next += std::chrono::milliseconds(interval_ms_);
    cv_.wait_until(lock, next, [this] { return stopping_; });
  }
}

}  // namespace fp
