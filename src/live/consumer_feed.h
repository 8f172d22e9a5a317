#pragma once
// ConsumerFeed: fans durable events out to MQTT consumers (operators subscribed with a read
// key to `devices/+/telemetry`, `devices/+/heartbeat`, `fleet/status`, `fleet/alerts`).
//
// The publishers run after durability: the ingest commit thread (telemetry, heartbeats, status
// changes) and the alert engine after it stored a change. Publishing never blocks and costs
// the publisher almost nothing: once start()ed, the feed's own thread takes the event (a
// reference to the committed batch, nothing is copied or formatted on the commit thread),
// builds each message once (only when some subscriber's filter matches its topic) and appends
// it to the bounded queue of every matching subscriber. A subscriber whose queue exceeds
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

// One message as every subscriber gets it. Immutable once published, except for the encoded
// packets it caches (thread-safe).
class ConsumerMessage {
 public:
  ConsumerMessage(std::string t, std::string p) : topic(std::move(t)), payload(std::move(p)) {}

  // The message's QoS 0 packet for protocol `version_slot` (0: MQTT 3.1.1, 1: MQTT 5): the
  // same bytes for every subscriber (no packet id), so the first subscriber to send it calls
  // `encode` and all others share the result. `encode` runs at most once per slot.
  const std::string& shared_packet(size_t version_slot,
                                   const std::function<std::string()>& encode) const {
    std::call_once(encoded_[version_slot], [&] { packet_[version_slot] = encode(); });
    return packet_[version_slot];
  }

  const std::string topic;
  const std::string payload;  // JSON

 private:
  mutable std::once_flag encoded_[2];
  mutable std::string packet_[2];  // written once, under encoded_
};

// One message for one subscriber, with the QoS it is delivered at (the highest granted QoS
// of the subscriber's filters that match the topic).
struct ConsumerDelivery {
  std::shared_ptr<const ConsumerMessage> message;
  uint8_t qos = 0;
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

  // A new subscriber with no filters (receives nothing until set_filters()).
  std::shared_ptr<Subscriber> add(Callbacks callbacks);
  // Replaces its filters (filter -> granted QoS). Filters must pass valid_filter().
  void set_filters(Subscriber& s, const std::map<std::string, uint8_t>& filters);
  void remove(const std::shared_ptr<Subscriber>& s);
  // Takes up to `max` queued messages in order. An empty result means the queue is empty (the
  // next message calls `wake` again) or the subscriber was dropped.
  std::vector<ConsumerDelivery> take(Subscriber& s, size_t max);
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
  // Runs `fanout` on the feed thread (or here without one).
  void post(std::function<void()> fanout);
  void run();
  // Builds the message only if someone subscribed to `topic`.
  void publish(const std::string& topic, const std::function<std::string()>& payload);
  void fanout_telemetry(const ReadingBatch& batch);
  // Drops every subscriber (the feed thread fell behind).
  void drop_all();

  const ConsumerFeedOptions options_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Subscriber>> subscribers_;  // guarded by mu_
  std::atomic<size_t> count_{0};                          // subscribers with filters

  std::mutex inbox_mu_;
  std::condition_variable inbox_cv_;
  std::deque<std::function<void()>> inbox_;  // guarded by inbox_mu_
  bool running_ = false;                     // guarded by inbox_mu_
  bool stopping_ = false;                    // guarded by inbox_mu_
  std::thread thread_;
};

}  // namespace fp
