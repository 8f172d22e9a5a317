#include "live/consumer_feed.h"

#include <algorithm>

#include "model/time_format.h"
#include "util/json_writer.h"

namespace fp {

class ConsumerFeed::Subscriber {
 public:
  explicit Subscriber(Callbacks c) : callbacks(std::move(c)) {}
  Callbacks callbacks;
  // Guarded by the feed's mu_.
  std::map<std::string, uint8_t> filters;
  std::deque<ConsumerDelivery> queue;
  size_t queued_bytes = 0;
  bool wake_pending = false;  // `wake` was called and take() has not emptied the queue since
  bool dropped = false;
};

ConsumerFeed::ConsumerFeed(ConsumerFeedOptions options) : options_(options) {}
ConsumerFeed::~ConsumerFeed() {
  stop();
}

void ConsumerFeed::start() {
  std::lock_guard lock(inbox_mu_);
  if (running_ || stopping_) return;
  running_ = true;
  thread_ = std::thread([this] { run(); });
}

void ConsumerFeed::stop() {
  {
    std::lock_guard lock(inbox_mu_);
    if (!running_ || stopping_) return;
    stopping_ = true;  // stays set: nothing is fanned out after stop()
  }
  inbox_cv_.notify_all();
  thread_.join();
  std::lock_guard lock(inbox_mu_);
  inbox_.clear();
}

void ConsumerFeed::run() {
  std::unique_lock lock(inbox_mu_);
  while (true) {
    inbox_cv_.wait(lock, [this] { return stopping_ || !inbox_.empty(); });
    if (stopping_) return;
    std::function<void()> fanout = std::move(inbox_.front());
    inbox_.pop_front();
    lock.unlock();
    fanout();
    lock.lock();
  }
}

void ConsumerFeed::post(std::function<void()> fanout) {
  {
    std::lock_guard lock(inbox_mu_);
    if (stopping_) return;
    if (running_) {
      if (inbox_.size() < options_.max_pending_events) {
        inbox_.push_back(std::move(fanout));
        inbox_cv_.notify_one();
        return;
      }
      inbox_.clear();  // behind by too much: everyone is cut (below), then it starts afresh
      fanout = nullptr;
    }
  }
  if (fanout)
    fanout();  // not started: on the caller's thread
  else
    drop_all();
}

void ConsumerFeed::drop_all() {
  std::vector<std::function<void()>> calls;
  {
    std::lock_guard lock(mu_);
    for (auto& s : subscribers_) {
      if (!s->filters.empty()) --count_;
      s->dropped = true;
      s->queue.clear();
      s->queued_bytes = 0;
      if (s->callbacks.overflow) calls.push_back(s->callbacks.overflow);
    }
    subscribers_.clear();
  }
  for (auto& c : calls) c();
}

std::shared_ptr<ConsumerFeed::Subscriber> ConsumerFeed::add(Callbacks callbacks) {
  auto s = std::make_shared<Subscriber>(std::move(callbacks));
  std::lock_guard lock(mu_);
  subscribers_.push_back(s);
  return s;
}

void ConsumerFeed::set_filters(Subscriber& s, const std::map<std::string, uint8_t>& filters) {
  std::lock_guard lock(mu_);
  if (s.dropped) return;
  if (s.filters.empty() != filters.empty()) {
    if (filters.empty())
      --count_;
    else
      ++count_;
  }
  s.filters = filters;
}

void ConsumerFeed::remove(const std::shared_ptr<Subscriber>& s) {
  std::lock_guard lock(mu_);
  if (!s->dropped && !s->filters.empty()) --count_;
  s->dropped = true;
  s->queue.clear();
  s->queued_bytes = 0;
  std::erase(subscribers_, s);
}

std::vector<ConsumerDelivery> ConsumerFeed::take(Subscriber& s, size_t max) {
  std::vector<ConsumerDelivery> out;
  std::lock_guard lock(mu_);
  while (!s.queue.empty() && out.size() < max) {
    out.push_back(std::move(s.queue.front()));
    s.queue.pop_front();
    s.queued_bytes -= out.back().message->topic.size() + out.back().message->payload.size();
  }
  if (s.queue.empty()) s.wake_pending = false;
  return out;
}

size_t ConsumerFeed::subscribers() const {
  std::lock_guard lock(mu_);
  return subscribers_.size();
}

void ConsumerFeed::publish(const std::string& topic, const std::function<std::string()>& payload) {
  std::vector<std::function<void()>> calls;  // run after the lock is released
  {
    std::lock_guard lock(mu_);
    std::shared_ptr<const ConsumerMessage> message;
    for (auto it = subscribers_.begin(); it != subscribers_.end();) {
      Subscriber& s = **it;
      int qos = -1;
      for (const auto& [filter, granted] : s.filters)
        if (granted > qos && matches(filter, topic)) qos = granted;
      if (qos < 0) {
        ++it;
        continue;
      }
      if (!message) message = std::make_shared<const ConsumerMessage>(topic, payload());
      s.queued_bytes += message->topic.size() + message->payload.size();
      if (s.queued_bytes > options_.max_queued_bytes) {
        // Fallen behind: dropped, so it costs nothing more.
        --count_;
        s.dropped = true;
        s.queue.clear();
        s.queued_bytes = 0;
        if (s.callbacks.overflow) calls.push_back(s.callbacks.overflow);
        it = subscribers_.erase(it);
        continue;
      }
      s.queue.push_back({message, static_cast<uint8_t>(qos)});
      if (!s.wake_pending) {
        s.wake_pending = true;
        if (s.callbacks.wake) calls.push_back(s.callbacks.wake);
      }
      ++it;
    }
  }
  for (auto& c : calls) c();
}

void ConsumerFeed::publish_telemetry(std::shared_ptr<const ReadingBatch> batch) {
  if (count_.load() == 0 || !batch) return;
  post([this, batch = std::move(batch)] { fanout_telemetry(*batch); });
}

void ConsumerFeed::fanout_telemetry(const ReadingBatch& b) {
  if (count_.load() == 0) return;
  // One message per device of the batch, its points in batch order.
  std::vector<std::vector<uint32_t>> by_device(b.devices().size());
  for (uint32_t i = 0; i < b.points().size(); ++i) by_device[b.points()[i].device].push_back(i);
  for (size_t d = 0; d < by_device.size(); ++d) {
    if (by_device[d].empty()) continue;
    const std::string& device = b.devices()[d];
    publish("devices/" + device + "/telemetry", [&] {
      JsonWriter w;
      w.begin_object().field("device_id", device).key("points").begin_array();
      for (uint32_t i : by_device[d]) {
        const Point& p = b.points()[i];
        w.begin_object().field("metric", b.metrics()[p.metric]);
        w.field("ts", format_rfc3339(p.ts_ms)).field("value", p.value).end_object();
      }
      w.end_array().end_object();
      return w.str();
    });
  }
}

void ConsumerFeed::publish_heartbeat(const ConsumerHeartbeat& heartbeat) {
  if (count_.load() == 0) return;
  post([this, h = heartbeat] {
    publish("devices/" + h.device_id + "/heartbeat", [&] {
      JsonWriter w;
      w.begin_object().field("device_id", h.device_id);
      w.field("received_at", format_rfc3339(h.received_ms));
      if (h.device_ts_ms) w.field("timestamp", format_rfc3339(*h.device_ts_ms));
      if (h.battery_level) w.field("battery_level", *h.battery_level);
      if (h.signal_strength) w.field("signal_strength", *h.signal_strength);
      if (h.location) w.field("location", *h.location);
      w.end_object();
      return w.str();
    });
  });
}

void ConsumerFeed::publish_status(const StatusTransition& transition) {
  if (count_.load() == 0) return;
  post([this, t = transition] {
    publish("fleet/status", [&] {
      JsonWriter w;
      w.begin_object().field("device_id", t.device_id).field("from", to_string(t.from));
      w.field("to", to_string(t.to)).field("reason", t.reason).field("at", format_rfc3339(t.at_ms));
      w.end_object();
      return w.str();
    });
  });
}

void ConsumerFeed::publish_alert(std::string alert_json) {
  if (count_.load() == 0) return;
  post([this, json = std::move(alert_json)]() mutable {
    publish("fleet/alerts", [&] { return std::move(json); });
  });
}

bool ConsumerFeed::valid_filter(std::string_view f) {
  if (f.empty() || f.size() > 65535) return false;
  size_t start = 0;
  while (true) {
    const size_t slash = f.find('/', start);
    const std::string_view level =
        f.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (level.find_first_of("+#") != std::string_view::npos) {
      if (level.size() != 1) return false;
      if (level == "#" && slash != std::string_view::npos) return false;
    }
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

bool ConsumerFeed::matches(std::string_view filter, std::string_view topic) {
  // Topics starting with '$' are not matched by a leading wildcard (MQTT-4.7.2-1).
  if (!topic.empty() && topic[0] == '$' && !filter.empty() &&
      (filter[0] == '+' || filter[0] == '#'))
    return false;
  size_t fi = 0, ti = 0;
  while (true) {
    const size_t fs = filter.find('/', fi);
    const std::string_view fl = filter.substr(fi, fs == std::string_view::npos ? fs : fs - fi);
    if (fl == "#") return true;  // matches the parent level and everything below
    if (ti > topic.size()) return false;
    const size_t ts = topic.find('/', ti);
    const std::string_view tl = topic.substr(ti, ts == std::string_view::npos ? ts : ts - ti);
    if (fl != "+" && fl != tl) return false;
    const bool f_end = fs == std::string_view::npos, t_end = ts == std::string_view::npos;
    if (f_end && t_end) return true;
    if (f_end) return false;
    if (t_end) {
      // "a/#" matches "a": the remaining filter must be exactly "#".
      return filter.substr(fs + 1) == "#";
    }
    fi = fs + 1;
    ti = ts + 1;
  }
}

bool ConsumerFeed::is_consumer_topic(std::string_view topic) {
  if (topic == "fleet/status" || topic == "fleet/alerts") return true;
  constexpr std::string_view kPrefix = "devices/";
  if (topic.substr(0, kPrefix.size()) != kPrefix) return false;
  const std::string_view rest = topic.substr(kPrefix.size());
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return false;
  const std::string_view id = rest.substr(0, slash), leaf = rest.substr(slash + 1);
  return (leaf == "telemetry" || leaf == "heartbeat") && validate_device_id(id).empty();
}

}  // namespace fp
