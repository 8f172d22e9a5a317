#include "live/consumer_feed.h"

#include <algorithm>
#include <chrono>

#include "live/telemetry_payload.h"
#include "model/time_format.h"
#include "util/json_writer.h"

namespace fp {

namespace {
// Whether `filter` matches every telemetry topic (devices/{any id}/telemetry): it matches two
// different ids, so its device level is a wildcard.
bool matches_all_telemetry(std::string_view filter) {
  return ConsumerFeed::matches(filter, "devices/a/telemetry") &&
         ConsumerFeed::matches(filter, "devices/b/telemetry");
}

// Whether `filter` matches some telemetry topic (its device level tried as written).
bool matches_some_telemetry(std::string_view filter) {
  const size_t first = filter.find('/');
  std::string_view id = "a";
  if (first != std::string_view::npos) {
    const size_t second = filter.find('/', first + 1);
    id = filter.substr(first + 1, second == std::string_view::npos ? second : second - first - 1);
    if (id == "+" || id == "#" || id.empty()) id = "a";
  }
  return ConsumerFeed::matches(filter, "devices/" + std::string(id) + "/telemetry");
}

using Filters = std::map<std::string, uint8_t>;

// The highest granted QoS of `filters` for `topic` (-1: no filter matches).
int highest_qos(const Filters& filters, std::string_view topic) {
  int qos = -1;
  for (const auto& [filter, granted] : filters)
    if (granted > qos && ConsumerFeed::matches(filter, topic)) qos = granted;
  return qos;
}
}  // namespace

ConsumerMessages::ConsumerMessages(Builder built, ConsumerPacketEncoder encoder)
    : text_(std::move(built.text_)), spans_(std::move(built.spans_)), encoder_(encoder) {}

size_t ConsumerMessages::count_below(size_t first, size_t count, size_t limit) const {
  if (limit == 0) return 0;
  const auto begin = spans_.begin() + static_cast<ptrdiff_t>(first);
  const size_t base = begin->topic_at;
  // bytes(first, k) is the end of message first + k - 1 less `base`: the first message whose
  // end reaches `limit` is the k-th.
  const auto it = std::lower_bound(
      begin, begin + static_cast<ptrdiff_t>(count), limit,
      [&](const Builder::Span& span, size_t l) { return span.payload_end - base < l; });
  return static_cast<size_t>(it - begin) + 1;
}

void ConsumerMessages::encode(size_t slot) const {
  if (!encoder_) return;
  std::string& out = packets_[slot];
  std::vector<uint32_t>& offsets = offsets_[slot];
  offsets.reserve(spans_.size() + 1);
  // A QoS 0 PUBLISH adds at most 8 bytes (5 of header, 2 of topic length, 1 of v5 property
  // length) to its topic and payload.
  out.reserve(text_.size() + 8 * spans_.size());
  for (size_t i = 0; i < spans_.size(); ++i) {
    const Message m = (*this)[i];
    const size_t start = out.size();
    offsets.push_back(static_cast<uint32_t>(start));
    encoder_(slot, m.topic, m.payload, out);
    largest_[slot] = std::max(largest_[slot], out.size() - start);
  }
  offsets.push_back(static_cast<uint32_t>(out.size()));
}

const std::string& ConsumerMessages::packet_buffer(size_t slot) const {
  std::call_once(encoded_[slot], [&] { encode(slot); });
  return packets_[slot];
}

std::string_view ConsumerMessages::packets(size_t slot, size_t first, size_t count) const {
  const std::string& buffer = packet_buffer(slot);
  const std::vector<uint32_t>& offsets = offsets_[slot];
  if (offsets.empty()) return {};
  return std::string_view(buffer).substr(offsets[first], offsets[first + count] - offsets[first]);
}

size_t ConsumerMessages::largest_packet(size_t slot) const {
  packet_buffer(slot);
  return largest_[slot];
}

class ConsumerFeed::Subscriber {
 public:
  Subscriber(Callbacks c, size_t slot) : callbacks(std::move(c)), version_slot(slot) {}
  Callbacks callbacks;
  const size_t version_slot;
  int qos_for(std::string_view topic) const { return highest_qos(filters, topic); }
  // Guarded by the feed's mu_.
  Filters filters;
  // From the filters: the highest QoS of those matching every telemetry topic (-1: none), and
  // of the others that match some telemetry topic. When the first is at least the second, a
  // telemetry batch goes to this subscriber whole, at the first, without matching each topic.
  int all_telemetry_qos = -1;
  int some_telemetry_qos = -1;
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
  std::vector<Event> events;
  bool backlog = false;  // events left by the last round (coalesce_points): they waited already
  while (true) {
    idle_ = true;
    inbox_cv_.wait(lock, [this] { return stopping_ || !inbox_.empty(); });
    idle_ = false;
    if (stopping_) return;
    if (options_.coalesce_us > 0 && !backlog && inbox_.front().telemetry) {
      // The batches committed meanwhile join this one (post() does not wake this thread for
      // them, only at coalesce_points).
      const auto deadline =
          std::chrono::steady_clock::now() + std::chrono::microseconds(options_.coalesce_us);
      inbox_cv_.wait_until(lock, deadline, [this] {
        return stopping_ || inbox_points_ >= options_.coalesce_points;
      });
      if (stopping_) return;
    }
    // Up to coalesce_points points of telemetry (always the first event) in one go.
    size_t points = 0;
    events.clear();
    while (!inbox_.empty()) {
      const size_t n = inbox_.front().telemetry ? inbox_.front().telemetry->points().size() : 0;
      if (!events.empty() && points + n > options_.coalesce_points) break;
      points += n;
      events.push_back(std::move(inbox_.front()));
      inbox_.pop_front();
    }
    inbox_points_ -= points;
    backlog = !inbox_.empty();
    lock.unlock();
    fan_out_events(events);
    lock.lock();
  }
}

void ConsumerFeed::fan_out_events(std::vector<Event>& events) {
  std::vector<std::shared_ptr<const ReadingBatch>> batches;
  for (Event& e : events) {
    if (e.telemetry) {
      batches.push_back(std::move(e.telemetry));
      continue;
    }
    if (!batches.empty()) fanout_telemetry(batches);
    batches.clear();
    if (e.other) e.other();
  }
  if (!batches.empty()) fanout_telemetry(batches);
}

void ConsumerFeed::post(Event event) {
  {
    std::lock_guard lock(inbox_mu_);
    if (stopping_) return;
    if (running_) {
      if (inbox_.size() < options_.max_pending_events) {
        const size_t points = event.telemetry ? event.telemetry->points().size() : 0;
        inbox_points_ += points;
        inbox_.push_back(std::move(event));
        // Woken for a first event, or when enough telemetry waits; not per batch.
        if (idle_ || (inbox_points_ >= options_.coalesce_points &&
                      inbox_points_ - points < options_.coalesce_points)) {
          idle_ = false;
          inbox_cv_.notify_one();
        }
        return;
      }
      inbox_.clear();  // behind by too much: everyone is cut (below), then it starts afresh
      inbox_points_ = 0;
      event = {};
    }
  }
  if (event.telemetry || event.other) {  // not started: on the caller's thread
    std::vector<Event> one;
    one.push_back(std::move(event));
    fan_out_events(one);
  } else {
    drop_all();
  }
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

std::shared_ptr<ConsumerFeed::Subscriber> ConsumerFeed::add(Callbacks callbacks,
                                                            size_t version_slot) {
  auto s = std::make_shared<Subscriber>(std::move(callbacks), version_slot > 0 ? 1 : 0);
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
  s.all_telemetry_qos = s.some_telemetry_qos = -1;
  for (const auto& [filter, granted] : filters) {
    if (matches_all_telemetry(filter))
      s.all_telemetry_qos = std::max<int>(s.all_telemetry_qos, granted);
    else if (matches_some_telemetry(filter))
      s.some_telemetry_qos = std::max<int>(s.some_telemetry_qos, granted);
  }
}

void ConsumerFeed::remove(const std::shared_ptr<Subscriber>& s) {
  std::lock_guard lock(mu_);
  if (!s->dropped && !s->filters.empty()) --count_;
  s->dropped = true;
  s->queue.clear();
  s->queued_bytes = 0;
  std::erase(subscribers_, s);
}

std::vector<ConsumerDelivery> ConsumerFeed::take(Subscriber& s, size_t max_messages,
                                                 size_t max_bytes) {
  std::vector<ConsumerDelivery> out;
  std::lock_guard lock(mu_);
  size_t taken = 0, bytes = 0;
  while (!s.queue.empty() && taken < max_messages && (taken == 0 || bytes < max_bytes)) {
    ConsumerDelivery& front = s.queue.front();
    // Message k of the run is taken while taken + k < max_messages and, past the first
    // message, the bytes before it are under max_bytes: so the one that crosses the byte
    // limit is taken. O(log n) per run, not a loop over its messages.
    const size_t below = front.messages->count_below(front.first, front.count, max_bytes - bytes);
    const auto n =
        static_cast<uint32_t>(std::min({static_cast<size_t>(front.count), max_messages - taken,
                                        std::max<size_t>(below, taken == 0 ? 1 : 0)}));
    const size_t run_bytes = front.messages->bytes(front.first, n);
    taken += n;
    bytes += run_bytes;
    s.queued_bytes -= run_bytes;
    if (n == front.count) {
      out.push_back(std::move(front));
      s.queue.pop_front();
    } else {  // the rest of the run stays queued
      out.push_back({front.messages, front.first, n, front.qos});
      front.first += n;
      front.count -= n;
    }
  }
  if (s.queue.empty()) s.wake_pending = false;
  return out;
}

size_t ConsumerFeed::subscribers() const {
  std::lock_guard lock(mu_);
  return subscribers_.size();
}

void ConsumerFeed::publish(const std::string& topic, const std::function<std::string()>& payload) {
  {
    std::lock_guard lock(mu_);
    if (std::none_of(subscribers_.begin(), subscribers_.end(),
                     [&](const auto& s) { return s->qos_for(topic) >= 0; }))
      return;
  }
  ConsumerMessages::Builder one;
  one.text() = topic;
  one.topic_done();
  one.text() += payload();
  one.payload_done();
  fan_out(std::make_shared<const ConsumerMessages>(std::move(one), encoder_.load()), false);
}

void ConsumerFeed::fan_out(std::shared_ptr<const ConsumerMessages> messages, bool all_telemetry) {
  // The packets of the protocol versions subscribed, encoded here (not under the lock, nor on
  // a connection's thread); a subscriber that arrives meanwhile encodes on first use.
  bool slots[2] = {false, false};
  {
    std::lock_guard lock(mu_);
    for (const auto& s : subscribers_)
      if (!s->filters.empty()) slots[s->version_slot] = true;
  }
  for (size_t slot = 0; slot < 2; ++slot)
    if (slots[slot]) messages->packet_buffer(slot);

  std::vector<std::function<void()>> calls;  // run after the lock is released
  std::vector<ConsumerDelivery> runs;
  {
    std::lock_guard lock(mu_);
    for (auto it = subscribers_.begin(); it != subscribers_.end();) {
      Subscriber& s = **it;
      runs.clear();
      if (all_telemetry && s.all_telemetry_qos >= 0 &&
          s.some_telemetry_qos <= s.all_telemetry_qos) {
        runs.push_back({messages, 0, static_cast<uint32_t>(messages->size()),
                        static_cast<uint8_t>(s.all_telemetry_qos)});
      } else {
        for (uint32_t i = 0; i < messages->size(); ++i) {
          const int qos = s.qos_for((*messages)[i].topic);
          if (qos < 0) continue;
          if (!runs.empty() && runs.back().qos == qos && runs.back().first + runs.back().count == i)
            ++runs.back().count;
          else
            runs.push_back({messages, i, 1, static_cast<uint8_t>(qos)});
        }
      }
      if (runs.empty()) {
        ++it;
        continue;
      }
      for (const ConsumerDelivery& r : runs) s.queued_bytes += messages->bytes(r.first, r.count);
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
      for (ConsumerDelivery& r : runs) s.queue.push_back(std::move(r));
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
  post({std::move(batch), nullptr});
}

void ConsumerFeed::fanout_telemetry(
    const std::vector<std::shared_ptr<const ReadingBatch>>& batches) {
  if (count_.load() == 0) return;
  // Whose topics anyone wants: everyone's when some subscriber takes all telemetry, else the
  // filters are copied so the messages are built without the lock.
  bool everything = false;
  std::vector<Filters> partial;
  {
    std::lock_guard lock(mu_);
    for (const auto& s : subscribers_) {
      if (s->all_telemetry_qos >= 0) everything = true;
      if (s->some_telemetry_qos >= 0) partial.push_back(s->filters);
    }
  }
  if (!everything && partial.empty()) return;
  ConsumerMessages::Builder messages;
  {
    size_t points = 0, devices = 0;
    for (const auto& batch : batches) {
      points += batch->points().size();
      devices += batch->devices().size();
    }
    messages.text().reserve(points * 64 + devices * 64);  // grows if the names are long
  }
  std::string& text = messages.text();
  TelemetryPayloadWriter payload_writer;  // its cached day serves every batch
  std::vector<uint32_t> start, order, next;
  for (const auto& batch : batches) {
    const ReadingBatch& b = *batch;
    // One message per device of the batch, its points in batch order: the point indexes
    // grouped by device with a counting sort (flat arrays, not a vector per device).
    const size_t devices = b.devices().size();
    start.assign(devices + 1, 0);
    for (const Point& p : b.points()) ++start[p.device + 1];
    for (size_t d = 0; d < devices; ++d) start[d + 1] += start[d];
    order.resize(b.points().size());
    next.assign(start.begin(), start.end() - 1);
    for (uint32_t i = 0; i < b.points().size(); ++i) order[next[b.points()[i].device]++] = i;
    for (size_t d = 0; d < devices; ++d) {
      if (start[d] == start[d + 1]) continue;
      const std::string& device = b.devices()[d];
      const size_t topic_at = text.size();
      text.append("devices/").append(device).append("/telemetry");
      if (!everything) {
        const std::string_view topic = std::string_view(text).substr(topic_at);
        if (std::none_of(partial.begin(), partial.end(),
                         [&](const Filters& f) { return highest_qos(f, topic) >= 0; })) {
          messages.drop_topic();
          continue;
        }
      }
      messages.topic_done();
      // Byte for byte what JsonWriter writes, without snprintf per timestamp.
      payload_writer.begin(text, device);
      for (uint32_t k = start[d]; k < start[d + 1]; ++k) {
        const Point& p = b.points()[order[k]];
        payload_writer.add_point(text, b.metrics()[p.metric], p.ts_ms, p.value);
      }
      payload_writer.end(text);
      messages.payload_done();
    }
  }
  if (messages.empty()) return;
  fan_out(std::make_shared<const ConsumerMessages>(std::move(messages), encoder_.load()), true);
}

void ConsumerFeed::publish_heartbeat(const ConsumerHeartbeat& heartbeat) {
  if (count_.load() == 0) return;
  post({nullptr, [this, h = heartbeat] {
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
        }});
}

void ConsumerFeed::publish_status(const StatusTransition& transition) {
  if (count_.load() == 0) return;
  post({nullptr, [this, t = transition] {
          publish("fleet/status", [&] {
            JsonWriter w;
            w.begin_object().field("device_id", t.device_id).field("from", to_string(t.from));
            w.field("to", to_string(t.to))
                .field("reason", t.reason)
                .field("at", format_rfc3339(t.at_ms));
            w.end_object();
            return w.str();
          });
        }});
}

void ConsumerFeed::publish_alert(std::string alert_json) {
  if (count_.load() == 0) return;
  post({nullptr, [this, json = std::move(alert_json)]() mutable {
          publish("fleet/alerts", [&] { return std::move(json); });
        }});
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
