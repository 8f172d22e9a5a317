#include "live/live_event_hub.h"

#include <algorithm>

#include "model/time_format.h"
#include "util/json_writer.h"

namespace fp {

LiveEventHub::LiveEventHub(LiveHubOptions options) : options_(options) {}

LiveEventHub::~LiveEventHub() {
  stop();
}

void LiveEventHub::start(StatsSource stats) {
  std::lock_guard lock(thread_mu_);
  if (thread_.joinable()) return;
  stats_ = std::move(stats);
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void LiveEventHub::stop() {
  {
    std::lock_guard lock(thread_mu_);
    if (!thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  std::lock_guard lock(mu_);
  subscribers_.clear();
  watched_.clear();
  telemetry_subscribers_ = 0;
}

std::string LiveEventHub::frame(std::string_view event, std::string_view json) {
  std::string f;
  f.reserve(event.size() + json.size() + 16);
  f.append("event: ").append(event).append("\ndata: ").append(json).append("\n\n");
  return f;
}

int64_t LiveEventHub::subscribe(Writer writer, std::vector<std::string> devices,
                                std::string principal, std::function<void()> closer) {
  if (!writer(": connected\n\n")) return 0;
  std::lock_guard lock(mu_);
  Subscriber s{next_id_++,
               std::move(writer),
               {devices.begin(), devices.end()},
               std::move(principal),
               std::move(closer)};
  if (!s.devices.empty()) ++telemetry_subscribers_;
  for (const auto& d : s.devices) ++watched_[d];
  subscribers_.push_back(std::move(s));
  return subscribers_.back().id;
}

size_t LiveEventHub::disconnect_principal(const std::string& principal) {
  if (principal.empty()) return 0;
  std::vector<std::function<void()>> closers;
  {
    std::lock_guard lock(mu_);
    std::erase_if(subscribers_, [&](Subscriber& s) {
      if (s.principal != principal) return false;
      if (s.close) closers.push_back(std::move(s.close));
      forget(s);
      return true;
    });
  }
  for (auto& c : closers) c();
  return closers.size();
}

size_t LiveEventHub::subscribers() const {
  std::lock_guard lock(mu_);
  return subscribers_.size();
}

void LiveEventHub::forget(const Subscriber& s) {
  if (!s.devices.empty()) --telemetry_subscribers_;
  for (const auto& d : s.devices)
    if (auto it = watched_.find(d); it != watched_.end() && --it->second == 0) watched_.erase(it);
}

void LiveEventHub::send_all(const std::string& f) {
  std::erase_if(subscribers_, [&](Subscriber& s) {
    if (s.write(f)) return false;
    forget(s);
    return true;
  });
}

void LiveEventHub::publish(std::string_view event, std::string_view json) {
  const std::string f = frame(event, json);
  std::lock_guard lock(mu_);
  send_all(f);
}

void LiveEventHub::publish_status(const StatusTransition& t) {
  JsonWriter w;
  w.begin_object().field("device_id", t.device_id).field("from", to_string(t.from));
  w.field("to", to_string(t.to)).field("reason", t.reason).field("at", format_rfc3339(t.at_ms));
  w.end_object();
  publish("status", w.str());
}

void LiveEventHub::publish_telemetry(const ReadingBatch& b) {
  if (telemetry_subscribers_.load() == 0) return;
  std::lock_guard lock(mu_);
  std::vector<bool> wanted(b.devices().size());
  bool any = false;
  for (size_t i = 0; i < b.devices().size(); ++i)
    any |= wanted[i] = watched_.contains(b.devices()[i]);
  if (!any) return;
  for (auto it = subscribers_.begin(); it != subscribers_.end();) {
    bool alive = true;
    if (!it->devices.empty()) {
      for (const Point& p : b.points()) {
        if (!wanted[p.device]) continue;
        const std::string& device = b.devices()[p.device];
        if (!it->devices.contains(device)) continue;
        JsonWriter w;
        w.begin_object().field("device_id", device).field("metric", b.metrics()[p.metric]);
        w.field("ts", format_rfc3339(p.ts_ms)).field("value", p.value).end_object();
        if (!it->write(frame("telemetry", w.str()))) {
          alive = false;
          break;
        }
      }
    }
    if (alive) {
      ++it;
    } else {
      forget(*it);
      it = subscribers_.erase(it);
    }
  }
}

void LiveEventHub::run() {
  using clock = std::chrono::steady_clock;
  auto next_stats = clock::now() + options_.stats_every;
  auto next_keepalive = clock::now() + options_.keepalive_every;
  std::unique_lock lock(thread_mu_);
  while (!stopping_) {
    cv_.wait_until(lock, std::min(next_stats, next_keepalive), [this] { return stopping_; });
    if (stopping_) break;
    const auto now = clock::now();
    const bool stats_due = now >= next_stats, keepalive_due = now >= next_keepalive;
    lock.unlock();
    if (stats_due) {
      next_stats = now + options_.stats_every;
      if (subscribers() > 0 && stats_) publish("stats", stats_());
    }
    if (keepalive_due) {
      next_keepalive = now + options_.keepalive_every;
      std::lock_guard hub_lock(mu_);
      send_all(": keepalive\n\n");
    }
    lock.lock();
  }
}

}  // namespace fp
