// mqtt_load: an MQTT 3.1.1 load driver. Opens --connections clients, each keeping --inflight
// QoS 1 PUBLISHes outstanding (the next one leaves as soon as a PUBACK comes back), for
// --duration seconds after a --warmup. With --subscribe it also opens one subscriber on
// devices/+/telemetry (QoS 1) and counts what a broker relays to it. With --hold it only opens
// the connections and keeps them idle for that many seconds (to measure memory per connection).
// --connections 0 --subscribe 1 runs only the subscriber (in its own process, on its own core).
//
// Connections are opened at most --connect-burst at a time (a burst of 10,000 SYNs overruns
// the listen backlog, and dropped SYNs come back only after 1, 3, 7 s); once every connection
// has its CONNACK (or --connect-timeout seconds have passed) it prints "ready=N" and all start
// publishing together (with --start-on-signal 1: when SIGUSR1 comes), and the window is
// measured after --warmup from there. What failed is counted, not only printed: a load that opened
// nothing says why.
//
// Output: one line of key=value figures: connections that got a CONNACK, acked messages/s at
// the publishers (for fleetpulse a PUBACK means durable), relayed messages/s at the
// subscriber, seconds until all were connected, and the failures: connect errors (the first
// error's text), CONNACKs refusing, connections the server closed.
//
// Usage: mqtt_load --port 1883 --connections 100 --inflight 16 --duration 10
//                  [--subscribe 1 --sub-qos 0|1] [--connect-burst 500 --connect-timeout 60]
//                  [--start-on-signal 1] [--ts-base <ms of the first reading>]
#include <algorithm>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mqtt/packet_decoder.h"
#include "mqtt/packet_encoder.h"

namespace net = boost::asio;
using tcp = net::ip::tcp;
using fp::mqtt::FrameHeader;
using fp::mqtt::FrameStatus;
using fp::mqtt::PacketType;

namespace {

struct Options {
  std::string host = "127.0.0.1";
  int port = 1883;
  int connections = 100;
  int inflight = 16;
  double duration_s = 10;
  double warmup_s = 2;
  bool subscribe = false;
  int sub_qos = 1;
  double hold_s = 0;
  int connect_burst = 500;  // connects (TCP + CONNACK) outstanding at once
  double connect_timeout_s = 60;
  bool start_on_signal = false;  // publish / measure only once SIGUSR1 comes
  // The first reading's timestamp (ms); each connection's readings go up 1 ms a message. A run
  // against a server that holds an earlier run's data needs a later base, or it rewrites
  // those readings (an overwrite, not an ingest: run_mqtt_comparison.sh moves it per run).
  int64_t ts_base_ms = 1767225600000;
};

struct Counters {
  uint64_t acked = 0;
  uint64_t relayed = 0;
  int connected = 0;
  int connect_failed = 0;  // TCP connect errors
  int refused = 0;         // CONNACK with a non-zero return code
  int closed = 0;          // connections ended by the server (or the network) after connecting
  int outstanding = 0;     // connects started and not yet answered
  std::string first_error;
  bool measuring = false;
  std::function<void()> on_settled;  // a connect attempt ended (CONNACK or failure)
};

void put_u16(std::string& s, uint16_t v) {
  s.push_back(static_cast<char>(v >> 8));
  s.push_back(static_cast<char>(v & 0xFF));
}
void put_str(std::string& s, std::string_view v) {
  put_u16(s, static_cast<uint16_t>(v.size()));
  s.append(v);
}
std::string frame(uint8_t first, const std::string& body) {
  std::string out(1, static_cast<char>(first));
  size_t n = body.size();
  do {
    uint8_t b = n & 0x7F;
    n >>= 7;
    out.push_back(static_cast<char>(n ? b | 0x80 : b));
  } while (n);
  return out + body;
}
std::string connect_packet(const std::string& client_id) {
  std::string b;
  put_str(b, "MQTT");
  b.push_back(4);
  b.push_back(0x02);
  put_u16(b, 60);
  put_str(b, client_id);
  return frame(0x10, b);
}

class Client : public std::enable_shared_from_this<Client> {
 public:
  Client(net::io_context& io, const Options& o, Counters& c, int index, bool subscriber)
      : sock_(io), opt_(o), counters_(c), index_(index), subscriber_(subscriber) {
    topic_ = "devices/load-" + std::to_string(index) + "/telemetry";
  }

  void start() {
    tcp::endpoint ep(net::ip::make_address(opt_.host), static_cast<uint16_t>(opt_.port));
    ++counters_.outstanding;
    sock_.async_connect(ep, [self = shared_from_this()](boost::system::error_code ec) {
      if (ec) {
        auto& c = self->counters_;
        if (c.first_error.empty()) c.first_error = ec.message();
        ++c.connect_failed;
        return self->settle();
      }
      self->sock_.set_option(tcp::no_delay(true));
      self->send(
          connect_packet((self->subscriber_ ? "sub-" : "load-") + std::to_string(self->index_)));
      self->read();
    });
  }

  // Starts publishing (at once, or at CONNACK if it has not come yet). Not when holding.
  void go() {
    going_ = true;
    if (!accepted_ || opt_.hold_s > 0 || subscriber_ || published_) return;
    published_ = true;
    for (int i = 0; i < opt_.inflight; ++i) publish_one();
  }

 private:
  // The connect attempt ended; the next one may start.
  void settle() {
    if (settled_) return;
    settled_ = true;
    --counters_.outstanding;
    if (counters_.on_settled) counters_.on_settled();
  }

  void publish_one() {
    fp::mqtt::Publish p;
    p.topic = topic_;
    p.qos = 1;
    p.packet_id = next_id_++;
    if (next_id_ == 0) next_id_ = 1;
    p.payload = "{\"ts\":" + std::to_string(opt_.ts_base_ms + static_cast<int64_t>(seq_++)) +
                ",\"temperature\":21.5,\"humidity\":40.25}";
    send(fp::mqtt::encode_publish(fp::mqtt::Version::kV311, p));
  }

  void on_packet(const FrameHeader& h, std::span<const uint8_t> body) {
    switch (h.type) {
      case PacketType::kConnack:
        ++counters_.connected;
        settle();
        if (body.size() >= 2 && body[1] != 0) {  // refused: the server closes
          ++counters_.refused;
          if (counters_.first_error.empty())
            counters_.first_error = "CONNACK return code " + std::to_string(body[1]);
          break;
        }
        if (subscriber_) {
          std::string b;
          put_u16(b, 1);
          put_str(b, "devices/+/telemetry");
          b.push_back(static_cast<char>(opt_.sub_qos));
          send(frame(0x82, b));
        } else {
          accepted_ = true;
          if (going_) go();
        }
        break;
      case PacketType::kPuback:
        if (counters_.measuring) ++counters_.acked;
        publish_one();
        break;
      case PacketType::kPublish: {
        if (counters_.measuring) ++counters_.relayed;
        if (h.flags & 0x06) {  // QoS 1: acknowledge
          const uint16_t tlen = static_cast<uint16_t>((body[0] << 8) | body[1]);
          const uint16_t id = static_cast<uint16_t>((body[2 + tlen] << 8) | body[3 + tlen]);
          send(fp::mqtt::encode_ack(fp::mqtt::Version::kV311, PacketType::kPuback, id, 0));
        }
        break;
      }
      default:
        break;
    }
  }

  void read() {
    if (in_.size() - used_ < 65536) in_.resize(used_ + 65536);
    sock_.async_read_some(
        net::buffer(in_.data() + used_, in_.size() - used_),
        [self = shared_from_this()](boost::system::error_code ec, size_t n) {
          if (ec) {
            if (ec == net::error::operation_aborted) return;
            auto& c = self->counters_;
            if (c.first_error.empty()) c.first_error = "read: " + ec.message();
            ++c.closed;
            return self->settle();
          }
          self->used_ += n;
          size_t at = 0;
          for (;;) {
            FrameHeader h;
            std::span<const uint8_t> rest(self->in_.data() + at, self->used_ - at);
            if (fp::mqtt::read_frame_header(rest, 1 << 24, h) != FrameStatus::kComplete) break;
            self->on_packet(h, rest.subspan(h.header_bytes, h.remaining));
            at += h.total();
          }
          std::memmove(self->in_.data(), self->in_.data() + at, self->used_ - at);
          self->used_ -= at;
          self->read();
        });
  }

  void send(std::string bytes) {
    pending_ += bytes;
    if (!writing_) flush();
  }
  void flush() {
    if (pending_.empty()) {
      writing_ = false;
      return;
    }
    writing_ = true;
    out_.swap(pending_);
    pending_.clear();
    net::async_write(sock_, net::buffer(out_),
                     [self = shared_from_this()](boost::system::error_code ec, size_t) {
                       if (ec) return;
                       self->flush();
                     });
  }

  tcp::socket sock_;
  const Options& opt_;
  Counters& counters_;
  int index_;
  bool subscriber_;
  std::string topic_;
  std::vector<uint8_t> in_;
  size_t used_ = 0;
  std::string out_, pending_;
  bool writing_ = false;
  bool settled_ = false;
  bool accepted_ = false, going_ = false, published_ = false;
  uint16_t next_id_ = 1;
  uint64_t seq_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--host")
      o.host = v;
    else if (k == "--port")
      o.port = std::stoi(v);
    else if (k == "--connections")
      o.connections = std::stoi(v);
    else if (k == "--inflight")
      o.inflight = std::stoi(v);
    else if (k == "--duration")
      o.duration_s = std::stod(v);
    else if (k == "--warmup")
      o.warmup_s = std::stod(v);
    else if (k == "--hold")
      o.hold_s = std::stod(v);
    else if (k == "--subscribe")
      o.subscribe = v == "1" || v == "on";
    else if (k == "--sub-qos")
      o.sub_qos = std::stoi(v);
    else if (k == "--connect-burst")
      o.connect_burst = std::max(1, std::stoi(v));
    else if (k == "--ts-base")
      o.ts_base_ms = std::stoll(v);
    else if (k == "--start-on-signal")
      o.start_on_signal = v == "1" || v == "on";
    else if (k == "--connect-timeout")
      o.connect_timeout_s = std::stod(v);
    else
      return std::fprintf(stderr, "unknown option %s\n", k.c_str()), 2;
  }
  net::io_context io;
  Counters c;
  std::vector<std::shared_ptr<Client>> clients;
  if (o.subscribe) clients.push_back(std::make_shared<Client>(io, o, c, 0, true));
  for (int i = 0; i < o.connections; ++i)
    clients.push_back(std::make_shared<Client>(io, o, c, i, false));
  // Connects leave at most connect_burst at a time; each one that ends starts the next. The
  // publishers start together once all are connected (or connect_timeout passed), or, with
  // --start-on-signal, at SIGUSR1 (a subscriber in another process starting with them); the
  // window is measured after the warmup from there.
  size_t next = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double connected_after_s = -1;
  auto start_measure = t0;
  net::steady_timer stop(io), warm(io), give_up(io);
  net::signal_set usr1(io, SIGUSR1);
  auto go = [&] {
    for (auto& cl : clients) cl->go();
    warm.expires_after(std::chrono::milliseconds(static_cast<int>(o.warmup_s * 1000)));
    warm.async_wait([&](boost::system::error_code) {
      c.measuring = true;
      start_measure = std::chrono::steady_clock::now();
      const double window = o.hold_s > 0 ? o.hold_s : o.duration_s;
      stop.expires_after(std::chrono::milliseconds(static_cast<int>(window * 1000)));
      stop.async_wait([&](boost::system::error_code) { io.stop(); });
    });
  };
  bool ready = false;
  auto on_ready = [&] {
    if (ready) return;
    ready = true;
    give_up.cancel();
    connected_after_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // Tells a script that the connections are up (to measure memory, or start a subscriber).
    std::printf("ready=%d\n", c.connected - c.refused);
    std::fflush(stdout);
    if (o.start_on_signal)
      usr1.async_wait([&](boost::system::error_code ec, int) {
        if (!ec) go();
      });
    else
      go();
  };
  c.on_settled = [&] {
    while (next < clients.size() && c.outstanding < o.connect_burst) clients[next++]->start();
    if (next == clients.size() && c.outstanding == 0) on_ready();
  };
  c.on_settled();
  // Connections still not answered after connect_timeout: go on with what there is.
  give_up.expires_after(std::chrono::milliseconds(static_cast<int>(o.connect_timeout_s * 1000)));
  give_up.async_wait([&](boost::system::error_code ec) {
    if (!ec) on_ready();
  });
  io.run();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_measure).count();
  std::printf(
      "connections=%d acked=%llu acked_per_s=%.0f relayed=%llu relayed_per_s=%.0f "
      "connected_after_s=%.1f connect_failed=%d refused=%d closed=%d first_error=\"%s\"\n",
      c.connected - c.refused, static_cast<unsigned long long>(c.acked), c.acked / secs,
      static_cast<unsigned long long>(c.relayed), c.relayed / secs, connected_after_s,
      c.connect_failed, c.refused, c.closed, c.first_error.c_str());
  return 0;
}
