#include "kpi/kpi_history.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <map>

#include "kpi/device_kpis.h"
#include "kpi/kpi_series_keys.h"

namespace fp {
namespace {

constexpr int64_t kHourMs = DeviceActivityLog::kHourMs;

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

Result<std::shared_ptr<ReadingBatch>> KpiHistorySampler::measure(int64_t now) {
  const int64_t prev = last_ms_ > 0 && last_ms_ < now ? last_ms_ : now - interval_ms_;
  const bool have_baseline = last_ms_ > 0;
  FP_ASSIGN_OR_RETURN(std::vector<Device> devices, catalog_.load_all_devices());
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
  std::unordered_map<std::string, ActivityTotals> counts;
  activity_.for_each_recent_hours(
      now, [&](const std::string& id, const ActivityTotals& cur, const ActivityTotals& before) {
        auto b = baseline_.find(id);
        if (have_baseline) {
          counts[id] = b != baseline_.end()
                           ? counted_since(hour, cur, before, b->second.hour, b->second.totals)
                           : counted_since(hour, cur, before, hour_of(prev), {});
        }
        baseline_[id] = {hour, cur};
      });
  last_ms_ = now;

  auto batch = std::make_shared<ReadingBatch>();
  std::map<std::string, TypeRollup> types;
  uint32_t m[kpi_keys::kMetrics.size()];
  for (size_t i = 0; i < kpi_keys::kMetrics.size(); ++i)
    m[i] = batch->intern_metric(kpi_keys::kMetrics[i]);
  enum { kAvail, kUptime, kResponse, kMessages, kErrors, kBattery, kDevices };
  static const std::vector<StatusTransition> kNone;
  for (const Device& d : devices) {
    const uint32_t key = batch->intern_device(kpi_keys::device_key(d.device_id));
    TypeRollup* t = d.type.empty() ? nullptr : &types[d.type];
    if (t) ++t->devices;
    const auto live = tracker_.get(d.device_id);
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
        batch->add(key, m[kAvail], now, avail);
        batch->add(key, m[kUptime], now, up);
        if (t) {
          t->availability += avail;
          t->uptime += up;
          ++t->with_period;
        }
      }
    }
    if (auto r = response.find(d.device_id); r != response.end()) {
      batch->add(key, m[kResponse], now, r->second);
      if (t) {
        t->response += r->second;
        ++t->with_response;
      }
    }
    if (have_baseline) {
      const auto c = counts.find(d.device_id);
      const ActivityTotals n = c == counts.end() ? ActivityTotals{} : c->second;
      batch->add(key, m[kMessages], now, static_cast<double>(n.messages));
      batch->add(key, m[kErrors], now, static_cast<double>(n.rejected));
      if (t) {
        t->messages += n.messages;
        t->errors += n.rejected;
        t->counted = true;
      }
    }
    if (live && live->battery_level) {
      batch->add(key, m[kBattery], now, *live->battery_level);
      if (t) {
        t->battery += *live->battery_level;
        ++t->with_battery;
      }
    }
  }
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
