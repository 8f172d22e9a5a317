#pragma once
// Connection: one MQTT client connection. Reads frames, hands each packet to its handler
// (handle_connect.cc, handle_publish.cc, handle_subscribe.cc), writes answers in order, and
// enforces keep-alive and the per-connection limits. Internal to src/mqtt.
//
// Thread safety: everything runs on the connection's strand; the *_async methods may be called
// from any thread and post there. Ingestor completions (commit thread) post back the same way.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mqtt/credential_ids.h"
#include "mqtt/message_ingest.h"
#include "mqtt/packet_decoder.h"
#include "mqtt/packet_id_set.h"
#include "mqtt/server_state.h"
#include "mqtt/transport.h"

namespace fp::mqtt {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(ServerState& server, Transport transport);
  ~Connection();

  void start();
  // Closes with `reason_code` (v5 clients get a DISCONNECT with it first).
  void close_async(uint8_t reason_code, std::string why);
  // Delivers an application message on a subscribed topic.
  void deliver_async(std::string topic, std::string payload, bool retain);
  // Delivers a stored push (a command) if subscribed and not already sent on this connection.
  void deliver_push_async(QueuedPush p);
  // Closes with 0x87 (Not authorized) if this connection authenticated with token / key `id`,
  // or belongs to device `id` (which was removed).
  void close_if_async(Revocation kind, std::string id);
  // Stops reading new packets (shutdown drain); acks of what was read still go out.
  void stop_reading_async();
  // Called by the server's keep-alive sweep (any thread, every kSweepPeriod): true when no
  // packet came within the connection's limit (no CONNECT within the connect timeout, or
  // nothing for 1.5 keep-alives); the sweep then calls expire_async(), which checks again on
  // the strand and closes. One sweep for all connections instead of a timer each (~250
  // bytes per connection with its pending wait).
  bool idle_expired(int64_t now_steady_ms) const;
  void expire_async();
  static int64_t steady_ms();

 private:
  // A prepared answer (CONNACK, SUBACK, UNSUBACK) sent instead of an ack.
  struct Prepared {
    std::string packet;
    std::function<void()> then;  // runs on the strand right after the answer is queued
  };
  // One PUBLISH waiting for durability; acks leave in arrival order. 16 bytes: the rare
  // prepared answer lives on the heap.
  struct PendingAck {
    PacketType type;  // kPuback, kPubrec, or kReserved (QoS 0: nothing to send)
    uint16_t packet_id = 0;
    bool done = false;
    bool failed = false;  // not durable: the connection is closed instead of acking
    uint8_t reason_code = reason::kSuccess;  // v5: why the message was refused
    std::unique_ptr<Prepared> prepared;
  };
  static constexpr auto kNoAck = static_cast<PacketType>(0);

  // I/O (connection.cc)
  void read_more();
  // TLS: reads into in_ (the stream has its own buffers).
  void on_read(const boost::system::error_code& ec, size_t n);
  // Plain TCP: the socket is readable. An idle connection waits with no buffer at all; what
  // arrives is read into the thread's scratch buffer and parsed there, and only an unparsed
  // tail (a partial packet, or input held back at a limit) is copied into in_.
  void on_readable(const boost::system::error_code& ec);
  // Handles the packets in in_[in_start_, in_end_).
  void process_buffer();
  // Handles the complete packets at the front of `avail` while nothing holds input back;
  // returns how many bytes it used.
  size_t parse(std::span<const uint8_t> avail);
  size_t parse_packets(std::span<const uint8_t> avail);
  bool at_limit() const;
  void send(std::string packet);
  // Queues bytes shared with other connections (consumer packets) after what is queued; they
  // are written from where they are (no copy) and `owner` keeps them alive until then.
  void send_shared(std::shared_ptr<const void> owner, std::string_view bytes);
  // Writes everything queued in one gathered write, unless a write is under way.
  void write_next();
  // A write finished: what was queued meanwhile goes next, then consumer messages and input.
  void after_write(const boost::system::error_code& ec);
  void close(uint8_t reason_code, std::string_view why);
  void finish_close();
  // After CONNACK: the keep-alive limit replaces the connect timeout.
  void arm_keepalive();
  void account_buffered();
  void handle_packet(const FrameHeader& h, std::span<const uint8_t> body);
  void protocol_failure(const DecodeResult& d);
  // Registers a received message (kNoAck for QoS 0 and wills, which still count as in flight);
  // returns its sequence number for complete(). Acks leave in this order.
  uint64_t expect_ack(PacketType type, uint16_t packet_id);
  // `durable` false closes the connection unacknowledged; `reason_code` goes in the v5 ack.
  void complete(uint64_t seq, bool durable, uint8_t reason_code);
  // complete() for every message of a batch; their acks leave in one write.
  void complete_all(const std::vector<uint64_t>& seqs, bool durable);
  // Marks `seq` done, without sending anything yet.
  void mark_done(uint64_t seq, bool durable, uint8_t reason_code);
  // Sends the acks at the front that are done, in one write.
  void flush_acks();
  // Completes `seq` (registered with expect_ack(kNoAck, ...)) with a prepared answer; it leaves
  // in its turn, and `then` runs right after it is queued.
  void answer(uint64_t seq, std::string packet, std::function<void()> then = {});
  // A catalog write's completion: `then` runs on this connection's strand with the write's
  // outcome (once committed), unless the connection or the server is gone by then.
  CatalogWriteQueue::Done on_strand(std::function<void(Status)> then);
  // Queues `op` on the catalog's write queue without waiting; a failure is logged as `what`.
  void write_and_forget(CatalogWriteQueue::Op op, std::string what);
  // Why the disk is behind (the HTTP disk gate's verdict); empty while it keeps up. Counts a
  // shed `packet` when not empty.
  std::string disk_behind(const char* packet);

  // handle_connect.cc
  void handle_connect(uint8_t flags, std::span<const uint8_t> body);
  void refuse_connect(Version v, uint8_t reason_code, std::string_view why);
  bool authenticate(const Connect& c, uint8_t& reason_code);
  // Attaches (or creates) the client's session; `connack` runs on the strand once the catalog
  // writes it needed are committed (at once when none were), with their outcome.
  void attach_session(const Connect& c, std::function<void(Status, bool session_present)> connack);
  // The connection's session, created on first need for a clean session (which has none until
  // it subscribes, uses QoS 2, or asks to be kept at DISCONNECT: most devices never do) and
  // put in the session table while this connection owns its client id.
  Session& ensure_session();

  // handle_publish.cc
  void handle_publish(uint8_t flags, std::span<const uint8_t> body);
  void handle_pubrel(const Ack& a);
  // Submits an application message from this client (a PUBLISH, or its will). Returns false
  // when the connection must close (3.1.1 has no way to refuse a single message).
  bool ingest(const Publish& p, bool is_will);
  void publish_will();
  // The ingest path's dependencies, for message_ingest.
  IngestSinks sinks();
  // Submits the telemetry PUBLISHes of the read being parsed as one batch (PublishBatch):
  // parse() calls it when it stops, and ingest() before a message that goes alone.
  void submit_read_batch();

  // handle_subscribe.cc
  void handle_subscribe(uint8_t flags, std::span<const uint8_t> body);
  void handle_unsubscribe(uint8_t flags, std::span<const uint8_t> body);
  void handle_puback(const Ack& a);
  void deliver(const std::string& topic, const std::string& payload, bool retain);
  void deliver_push(const QueuedPush& p);
  // Sends what is queued for `topic` (a commands topic this connection subscribes to).
  void deliver_pending(const std::string& topic);
  // After CONNACK of a resumed session: what is pending on its subscriptions (commands, and a
  // config changed while it was away), without it subscribing again.
  void resume_deliveries();
  // False (and the connection closing with 0x87) once its credential was revoked or its key
  // lost the write role: checked on each PUBLISH besides the revocation listeners.
  bool credential_still_valid();
  // 0, 1: granted QoS; >= 0x80 a refusal reason.
  uint8_t authorize_filter(const Subscription& s, std::string& device);

  // consumers (handle_consume.cc): operators reading durable events with wildcards.
  // A key of the read role (write keys are gateways) may connect as a consumer.
  bool authenticate_consumer(const Principal& who);
  // Whether this connection may subscribe to consumer topics (auth off, or an operator key).
  bool may_consume() const;
  uint8_t authorize_consumer_filter(const Subscription& s);
  // Tells the feed this connection's consumer filters (from the session's subscriptions).
  void update_consumer_filters();
  // Moves queued consumer messages to the socket while its output and QoS 1 window allow.
  void drain_consumer();
  void drop_consumer();

  ServerState& server_;
  Transport transport_;

  // What a connection needs only while it has traffic: input not yet parsed, the write under
  // way, acks awaiting durability. On the heap, allocated by tr() and given back by
  // release_idle_traffic() once all of it is empty (an idle device holds none of it).
  struct Traffic {
    std::vector<uint8_t> in;  // bytes read, [in_start, in_end) not yet parsed
    // 32 bits: a packet is at most max_packet_bytes (< 256 MiB, MQTT's own limit).
    uint32_t in_start = 0, in_end = 0;
    uint32_t read_chunk = 1024;  // grows while reads come back full
    uint32_t last_read_request = 0;
    uint32_t frame_want = 0;  // total size of a packet only partly read, when known
    std::string out_writing;  // packets being written now
    // Pending acks are acks[acks_head, end): a vector, not a deque, whose libstdc++ form
    // allocates ~600 bytes even when empty.
    std::vector<PendingAck> acks;
    size_t acks_head = 0;
    // Moves the unparsed bytes [in_start, in_end) to the front of `in`.
    void keep_tail_at_front() {
      if (in_start == 0) return;
      std::copy(in.begin() + static_cast<ptrdiff_t>(in_start),
                in.begin() + static_cast<ptrdiff_t>(in_end), in.begin());
      in_end -= in_start;
      in_start = 0;
    }
  };
  std::unique_ptr<Traffic> traffic_;
  Traffic& tr() {
    if (!traffic_) traffic_ = std::make_unique<Traffic>();
    return *traffic_;
  }
  // Frees traffic_ when nothing is in it (plain TCP only: a TLS read fills in under way).
  // Called only at the end of the I/O completions (on_readable, after_write), where no
  // reference into it is held.
  void release_idle_traffic();
  std::string out_queued_;  // packets waiting to be written
  size_t out_bytes_ = 0;    // with the write under way, and the shared bytes below
  // Consumer output: shared pieces queued before out_queued_, and those being written. On the
  // heap once a connection sends one (devices never do).
  struct SharedBytes {
    std::shared_ptr<const void> owner;
    std::string_view bytes;
  };
  struct SharedOut {
    std::vector<SharedBytes> queued, writing;
    size_t writing_bytes = 0;  // of `writing`, with out_writing_ when it is part of it
  };
  std::unique_ptr<SharedOut> shared_out_;
  int64_t reported_buffered_ = 0;
  bool writing_ = false;
  bool reading_ = false;
  bool read_stopped_ = false;
  bool paused_ = false;
  bool processing_ = false;  // in parse()
  bool corked_ = false;      // send() queues without starting a write (flush_acks)
  bool closing_ = false;     // no more input; close once the output is written
  bool closed_ = false;

  bool connected_ = false;  // CONNECT accepted
  // No packet is read or handled until an answer that must come first has left (a CONNACK
  // waiting for its session's commit) or the connection closes (after DISCONNECT).
  bool hold_input_ = false;
  Version version_ = Version::kV311;
  // Beside version_ (no padding):
  bool read_key_only_ = false;           // an operator key of the read role: consumes only
  uint16_t client_receive_max_ = 65535;  // v5 Receive Maximum of the client
  uint16_t next_packet_id_ = 1;
  std::string client_id_;
  std::string device_id_;     // the authenticated (or named) device; empty for a gateway
  CredentialIds credential_;  // the device token or operator key it authenticated with
  bool any_device_ = false;   // may publish for any device (auth off, or a write API key)
  bool counted_device_ = false;
  uint16_t keep_alive_s_ = 0;
  uint32_t client_max_packet_ = 0;  // 0: no limit (beside the fields above: no padding)
  // Read by the sweep on another thread: steady-clock ms of the last packet (of the accept
  // before one), and how long the connection may stay silent (connect timeout, then 1.5
  // keep-alives; INT64_MAX: no limit).
  std::atomic<int64_t> last_packet_ms_{steady_ms()};
  std::atomic<int64_t> idle_limit_ms_{INT64_MAX};
  std::unique_ptr<Will> will_;        // on the heap: most connections have none
  std::shared_ptr<Session> session_;  // null for a clean session until ensure_session()

  uint64_t acks_base_ = 0;  // sequence number of the first pending ack (tr().acks_head)
  size_t pending_acks() const { return traffic_ ? traffic_->acks.size() - traffic_->acks_head : 0; }
  void pop_ack();
  PacketIdSet outbound_unacked_;  // outbound QoS 1 packet ids awaiting PUBACK
  // Stored pushes (commands, config) on this connection; on the heap once there is one, as
  // most connections never get one.
  struct Pushes {
    std::map<uint16_t, int64_t> awaiting_puback;  // packet id -> stored push awaiting PUBACK
    std::set<int64_t> sent;                       // stored pushes sent on this connection
  };
  std::unique_ptr<Pushes> pushes_;
  std::shared_ptr<ConsumerFeed::Subscriber> consumer_;  // set once it has consumer filters
};

}  // namespace fp::mqtt
