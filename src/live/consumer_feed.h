#pragma once
// ConsumerFeed: fans durable events out to MQTT consumers (operators subscribed with a read
// key to `devices/+/telemetry`, `devices/+/heartbeat`, `fleet/status`, `fleet/alerts`).
//
// The publishers run after durability: the ingest commit thread (telemetry, heartbeats, status
// changes) and the alert engine after it stored a change. Publishing never blocks and costs
// the publisher almost nothing: once start()ed, the feed's own thread takes the event (a
// reference to the committed batch, nothing is copied or formatted on the commit thread),
// builds each message once (only when some subscriber's filter matches its topic), encodes
// the QoS 0 packets of a whole batch once per protocol version into one shared buffer, and
// appends one entry (a run of messages) to the bounded queue of every matching subscriber:
// a subscriber of `devices/+/telemetry` gets one entry per batch, not one per device, and
// its connection writes the shared bytes without copying them. The batches committed within
// `coalesce_us` (2 ms) of the first one waiting are fanned out as one: one entry, one wake and
// so one socket write per subscriber for all of them (the commit thread wakes the feed thread
// only for a first event, not per batch). A subscriber whose queue exceeds
// `max_queued_bytes` is dropped and told so (`overflow`); if the feed thread itself falls
// `max_pending_events` behind, every subscriber is. So a consumer that falls behind is cut
// and never slows ingest. One queue per subscriber, filled in publishing order, so messages of
// one device arrive in the order they became durable. Without start() (unit tests) publishing
// fans out on the caller's thread.
//
// Thread safety: every method may be called from any thread.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "model/device.h"
#include "model/reading_batch.h"

namespace fp {

// Appends the QoS 0 PUBLISH packet of (topic, payload) for protocol `version_slot` (0: MQTT
// 3.1.1, 1: MQTT 5) to `out`. The MQTT server supplies it (ConsumerFeed::set_packet_encoder).
using ConsumerPacketEncoder = void (*)(size_t version_slot, std::string_view topic,
                                       std::string_view payload, std::string& out);

// Messages published together, in order: one per device of a committed telemetry batch, or a
// single event. Every message's topic and payload sit back to back in one text buffer (no
// string per message). Immutable once built, except for the encoded packets it caches
// (thread-safe): the QoS 0 packets of all its messages are encoded once per protocol version,
// back to back in one buffer, which every subscriber of that version writes from.
class ConsumerMessages {
 public:
  struct Message {
    std::string_view topic;
    std::string_view payload;  // JSON
  };
  // Builds the text: per message, append its topic to text(), then topic_done(), then its
  // payload, then payload_done() (or drop_topic() instead, to take the topic back out).
  class Builder {
   public:
    std::string& text() { return text_; }
    void topic_done() { topic_end_ = text_.size(); }
    void drop_topic() { text_.resize(message_start()); }
    void payload_done() { spans_.push_back({message_start(), topic_end_, text_.size()}); }
    bool empty() const { return spans_.empty(); }

   private:
    friend class ConsumerMessages;
    size_t message_start() const { return spans_.empty() ? 0 : spans_.back().payload_end; }
    struct Span {
      size_t topic_at, payload_at, payload_end;
    };
    std::string text_;
    std::vector<Span> spans_;
    size_t topic_end_ = 0;
  };
  ConsumerMessages(Builder built, ConsumerPacketEncoder encoder);

  size_t size() const { return spans_.size(); }
  Message operator[](size_t i) const {
    const std::string_view text(text_);
    const Builder::Span& s = spans_[i];
    return {text.substr(s.topic_at, s.payload_at - s.topic_at),
            text.substr(s.payload_at, s.payload_end - s.payload_at)};
  }
  // Topic + payload bytes of messages [first, first + count): what a subscriber's queue counts.
  // O(1).
  size_t bytes(size_t first, size_t count) const {
    return count == 0 ? 0 : spans_[first + count - 1].payload_end - spans_[first].topic_at;
  }
  // The smallest k in [0, count] with bytes(first, k) >= limit, or count + 1 if there is none.
  size_t count_below(size_t first, size_t count, size_t limit) const;

  // The QoS 0 packets of messages [first, first + count) for `version_slot`, back to back
  // (encoded on first use, once per slot; empty without an encoder).
  std::string_view packets(size_t version_slot, size_t first, size_t count) const;
  // The largest single packet for `version_slot` (a client's Maximum Packet Size).
  size_t largest_packet(size_t version_slot) const;
  // The whole buffer of `version_slot` (same lifetime as this object).
  const std::string& packet_buffer(size_t version_slot) const;

 private:
  void encode(size_t version_slot) const;

  const std::string text_;
  const std::vector<Builder::Span> spans_;
  const ConsumerPacketEncoder encoder_;
  mutable std::once_flag encoded_[2];
  // Written once, under encoded_: the packets, and where message i's starts (size() + 1).
  mutable std::string packets_[2];
  mutable std::vector<uint32_t> offsets_[2];
  mutable size_t largest_[2] = {0, 0};
};

// Consecutive messages of one ConsumerMessages for one subscriber, all at the QoS they are
// delivered at (the highest granted QoS of the subscriber's filters that match the topic).
struct ConsumerDelivery {
  std::shared_ptr<const ConsumerMessages> messages;
  uint32_t first = 0;
  uint32_t count = 1;
  uint8_t qos = 0;
  ConsumerMessages::Message operator[](size_t i) const { return (*messages)[first + i]; }
};

// The heartbeat fields a consumer sees (a copy of the durable report's).
struct ConsumerHeartbeat {
  std::string device_id;
  int64_t received_ms = 0;
  std::optional<int64_t> device_ts_ms;
  std::optional<double> battery_level;
  std::optional<double> signal_strength;
  std::optional<std::string> location;
};

struct ConsumerFeedOptions {
  size_t max_queued_bytes = 4 << 20;  // per subscriber: messages taken by nobody yet
  size_t max_pending_events = 4096;   // events (batches, ...) the feed thread is behind by
  // Started feed only: telemetry batches committed within this long after the first one waiting
  // are fanned out together (one run of messages, one queue entry and one wake, so one write,
  // per subscriber), unless `coalesce_points` points wait already. Adds at most this much
  // latency; 0: each batch alone.
  int64_t coalesce_us = 2000;
  size_t coalesce_points = 65536;
};

class ConsumerFeed {
 public:
  // Called with no lock of the feed held: `wake` when messages wait for a subscriber that had
  // none (it then calls take() until it returns nothing), `overflow` once when it is dropped.
  // Both must only post work elsewhere.
  struct Callbacks {
    std::function<void()> wake;
    std::function<void()> overflow;
  };
  class Subscriber;

  explicit ConsumerFeed(ConsumerFeedOptions options = {});
  ~ConsumerFeed();

  // Starts the thread that formats and fans out what is published; stop() ends it for good
  // (what is still pending is dropped: nobody is guaranteed messages across a shutdown).
  void start();
  void stop();

  // The QoS 0 packet encoder (the MQTT server's). Set before the first publish; without one
  // nothing is pre-encoded and ConsumerMessages::packets() is empty.
  void set_packet_encoder(ConsumerPacketEncoder encoder) { encoder_.store(encoder); }

  // A new subscriber with no filters (receives nothing until set_filters()). `version_slot`
  // (0: MQTT 3.1.1, 1: MQTT 5): the feed thread encodes the QoS 0 packets of that version
  // before queueing, so the subscriber's connection only writes them.
  std::shared_ptr<Subscriber> add(Callbacks callbacks, size_t version_slot = 0);
  // Replaces its filters (filter -> granted QoS). Filters must pass valid_filter().
  void set_filters(Subscriber& s, const std::map<std::string, uint8_t>& filters);
  void remove(const std::shared_ptr<Subscriber>& s);
  // Takes queued messages in order, up to `max_messages` of them and, past the first, up to
  // about `max_bytes` (topic + payload); a run of messages is split where a limit falls. An
  // empty result means the queue is empty (the next message calls `wake` again) or the
  // subscriber was dropped.
  std::vector<ConsumerDelivery> take(Subscriber& s, size_t max_messages,
                                     size_t max_bytes = SIZE_MAX);
  size_t subscribers() const;

  // The publishers (after durability).
  void publish_telemetry(std::shared_ptr<const ReadingBatch> batch);
  void publish_heartbeat(const ConsumerHeartbeat& h);
  void publish_status(const StatusTransition& t);
  void publish_alert(std::string alert_json);

  // MQTT topic filter syntax: non-empty, `+` and `#` only as whole levels, `#` only last.
  static bool valid_filter(std::string_view filter);
  // Whether `filter` (valid) matches `topic` (no wildcards), as MQTT 4.7.
  static bool matches(std::string_view filter, std::string_view topic);
  // Whether `topic` is one of the consumer topics (devices/{id}/telemetry|heartbeat,
  // fleet/status, fleet/alerts).
  static bool is_consumer_topic(std::string_view topic);

 private:
  // What the publishers hand the feed thread: a committed telemetry batch, or another event's
  // fan-out.
  struct Event {
    std::shared_ptr<const ReadingBatch> telemetry;
    std::function<void()> other;
  };
  // Runs the event's fan-out on the feed thread (or here without one).
  void post(Event event);
  void run();
  // Runs `events` in order, consecutive telemetry batches as one fan-out.
  void fan_out_events(std::vector<Event>& events);
  // Builds the message only if someone subscribed to `topic`.
  void publish(const std::string& topic, const std::function<std::string()>& payload);
  // Queues `messages` (built by the caller) for every subscriber whose filters match some of
  // them, as runs of consecutive messages at one QoS, after encoding the packets they need.
  void fan_out(std::shared_ptr<const ConsumerMessages> messages, bool all_telemetry);
  // One message per device per batch, the batches' messages back to back, as one fan-out.
  void fanout_telemetry(const std::vector<std::shared_ptr<const ReadingBatch>>& batches);
  // Drops every subscriber (the feed thread fell behind).
  void drop_all();

  const ConsumerFeedOptions options_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Subscriber>> subscribers_;  // guarded by mu_
  std::atomic<size_t> count_{0};                          // subscribers with filters
  std::atomic<ConsumerPacketEncoder> encoder_{nullptr};

  std::mutex inbox_mu_;
  std::condition_variable inbox_cv_;
  std::deque<Event> inbox_;  // guarded by inbox_mu_
  size_t inbox_points_ = 0;  // telemetry points in inbox_; guarded by inbox_mu_
  bool idle_ = false;        // the feed thread waits for a first event; guarded by inbox_mu_
  bool running_ = false;     // guarded by inbox_mu_
  bool stopping_ = false;    // guarded by inbox_mu_
  std::thread thread_;
};

}  // namespace fp
