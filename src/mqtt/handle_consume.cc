// Consumers: operators (an API key of the read role, or any key/client when auth is off) that
// subscribe with wildcards to devices/+/telemetry, devices/+/heartbeat, fleet/status and
// fleet/alerts. Messages come from the ConsumerFeed (published after durability) and leave
// in order; a consumer that falls behind is cut by the feed, never slowing ingest.

#include <spdlog/spdlog.h>

#include "mqtt/connection.h"
#include "mqtt/packet_encoder.h"

namespace fp::mqtt {
namespace {
// Consumer messages are moved to the socket while less than this is unsent, so a slow
// reader's backlog stays in the feed's bounded queue (where it is measured and cut).
constexpr size_t kConsumerWriteWindow = 256 * 1024;
// The most consumer QoS 1 messages awaiting PUBACK (lower if the client's Receive Maximum is).
constexpr size_t kConsumerMaxUnacked = 1000;

bool is_consumer_filter(const std::string& filter) {
  return filter.find_first_of("+#") != std::string::npos || ConsumerFeed::is_consumer_topic(filter);
}
}  // namespace

bool Connection::authenticate_consumer(const Principal& who) {
  if (!role_allows(who.role, ApiRole::kRead)) return false;
  credential_.set_key_id(who.key_id);  // revoking or changing the key closes this connection
  read_key_only_ = true;
  return true;
}

bool Connection::may_consume() const {
  return server_.deps.consumers != nullptr &&
         (!server_.options.auth || !credential_.key_id().empty());
}

uint8_t Connection::authorize_consumer_filter(const Subscription& s) {
  const bool v5 = version_ == Version::kV5;
  if (!ConsumerFeed::valid_filter(s.filter))
    return v5 ? reason::kTopicFilterInvalid : reason::kUnspecifiedError;
  // A device (its token) reads only its own config and commands: for it, wildcards are not
  // available (as its CONNACK says) and the consumer topics are not topics it may filter on.
  if (!may_consume()) {
    if (!v5) return reason::kUnspecifiedError;
    return s.filter.find_first_of("+#") != std::string::npos
               ? reason::kWildcardSubscriptionsNotSupported
               : reason::kTopicFilterInvalid;
  }
  return std::min<uint8_t>(s.max_qos, 1);  // QoS 0 and 1
}

void Connection::update_consumer_filters() {
  if (!may_consume() || closing_ || closed_ || !session_) return;
  std::map<std::string, uint8_t> filters;
  {
    std::lock_guard lock(session_->mu);
    for (const auto& [filter, qos] : session_->subscriptions)
      if (is_consumer_filter(filter)) filters.emplace(filter, qos);
  }
  ConsumerFeed& feed = *server_.deps.consumers;
  if (!consumer_ && filters.empty()) return;
  if (!consumer_) {
    std::weak_ptr<Connection> weak = weak_from_this();
    consumer_ = feed.add(
        {[weak] {
           if (auto self = weak.lock())
             net::post(self->transport_.get_executor(), [self] { self->drain_consumer(); });
         },
         [weak] {
           auto self = weak.lock();
           if (!self) return;
           self->server_.metrics.consumer_cut.inc();
           spdlog::warn("event=mqtt_consumer_cut client={} reason=\"fell behind\"",
                        self->client_id_);
           self->close_async(reason::kQuotaExceeded,
                             "consumer fell behind: its queue of undelivered messages is full");
         }},
        version_ == Version::kV5 ? 1 : 0);
  }
  feed.set_filters(*consumer_, filters);
}

void Connection::drain_consumer() {
  if (!consumer_ || closing_ || closed_) return;
  const size_t max_unacked =
      std::min<size_t>(kConsumerMaxUnacked, std::max<uint16_t>(client_receive_max_, 1));
  const size_t slot = version_ == Version::kV5 ? 1 : 0;
  const size_t bytes_before = out_bytes_;
  while (out_bytes_ < kConsumerWriteWindow && outbound_unacked_.size() < max_unacked) {
    // At most as many messages as the QoS 1 window has room for (all of them could be QoS 1).
    std::vector<ConsumerDelivery> batch = server_.deps.consumers->take(
        *consumer_, max_unacked - outbound_unacked_.size(), kConsumerWriteWindow - out_bytes_);
    if (batch.empty()) break;
    for (const ConsumerDelivery& d : batch) {
      const ConsumerMessages& m = *d.messages;
      if (d.qos == 0 && (!client_max_packet_ || m.largest_packet(slot) <= client_max_packet_)) {
        // The run's packets as the feed encoded them for every subscriber of this version.
        send_shared(d.messages, m.packets(slot, d.first, d.count));
        server_.metrics.consumer_sent.inc(d.count);
        continue;
      }
      for (uint32_t i = 0; i < d.count; ++i) {
        // QoS 1 (its packet id is this connection's), or a run with a packet too large for
        // the client, sent packet by packet.
        uint16_t packet_id = 0;
        if (d.qos > 0) {
          do {
            packet_id = next_packet_id_++;
            if (next_packet_id_ == 0) next_packet_id_ = 1;
          } while (outbound_unacked_.count(packet_id));
        }
        Publish p;
        p.topic = d[i].topic;
        p.payload = d[i].payload;
        p.qos = d.qos;
        p.packet_id = packet_id;
        std::string packet = encode_publish(version_, p);
        if (client_max_packet_ && packet.size() > client_max_packet_)
          continue;  // too large for it: skipped (MQTT-3.1.2-24)
        if (d.qos > 0) outbound_unacked_.insert(packet_id);
        server_.metrics.consumer_sent.inc();
        // Appended to what waits for the socket; written below, all of this drain in one write.
        out_bytes_ += packet.size();
        out_queued_ += packet;
      }
    }
  }
  if (out_bytes_ == bytes_before) return;
  account_buffered();
  if (!writing_) write_next();
}

void Connection::drop_consumer() {
  if (!consumer_) return;
  // QoS 1 messages not yet acknowledged are not sent again: the feed keeps nothing for an
  // absent consumer (it reads what it missed from the HTTP API).
  server_.deps.consumers->remove(consumer_);
  consumer_.reset();
}

}  // namespace fp::mqtt
