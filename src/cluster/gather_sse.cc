#include "cluster/gather_sse.h"

#include <chrono>
#include <future>
#include <map>
#include <set>

#include "cluster/gather_stream.h"
#include "util/json_writer.h"

namespace fp::cluster {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kSilentOwner = std::chrono::milliseconds(4'500);
constexpr auto kRefresh = std::chrono::seconds(1);
constexpr int64_t kOpenTimeoutMs = 1'000;
constexpr int64_t kPollMs = 20;

struct Conn {
  std::unique_ptr<OwnerStream> stream;
  std::string buffer;
  Clock::time_point last_data;
};

}  // namespace

SseRelay::SseRelay(const ClusterNode& node, size_t max_streams)
    : node_(node), max_streams_(max_streams) {}

SseRelay::~SseRelay() {
  stop_ = true;
  std::lock_guard lock(mu_);
  for (Session& s : sessions_)
    if (s.thread.joinable()) s.thread.join();
}

void SseRelay::Serve(OwnerRequest base, http::Responder& respond, std::function<bool()> allowed) {
  std::lock_guard lock(mu_);
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (!it->done) {
      ++it;
      continue;
    }
    it->thread.join();
    it = sessions_.erase(it);
  }
  if (sessions_.size() >= max_streams_ || stop_)
    return respond(Unavailable("too many live streams relayed by this node; retry shortly"));
  Session& s = sessions_.emplace_back();
  s.thread = std::thread([this, base = std::move(base), respond = std::move(respond),
                          allowed = std::move(allowed), &s] {
    Run(respond, base, allowed);
    s.done = true;
  });
}

void SseRelay::Run(const http::Responder& respond, const OwnerRequest& base,
                   const std::function<bool()>& allowed) {
  // This node's own stream first: its answer (a refused credential, a bad parameter) is the
  // client's answer, as on a single node.
  std::string host, port, error;
  for (const NodeView& n : node_.nodes())
    if (n.id == node_.options().node_id) SplitAdvertiseUrl(n.advertise, host, port);
  std::unique_ptr<OwnerStream> own = OwnerStream::Open(host, port, base, kOpenTimeoutMs, error);
  if (!own) return respond(Unavailable("this node's own live stream did not open: " + error));
  if (own->status() != 200) {
    http::Response r;
    r.status = own->status();
    r.content_type = own->header("Content-Type");
    r.body = own->ReadAll(kOpenTimeoutMs);
    return respond(std::move(r));
  }
  http::Response res;
  res.content_type = "text/event-stream";
  res.headers.emplace_back("Cache-Control", "no-cache");
  res.headers.emplace_back("X-Accel-Buffering", "no");
  auto sink_promise = std::make_shared<std::promise<std::shared_ptr<http::StreamSink>>>();
  auto sink_future = sink_promise->get_future();
  res.on_stream = [sink_promise](std::shared_ptr<http::StreamSink> sink) {
    sink_promise->set_value(std::move(sink));
  };
  respond(std::move(res));
  // The server hands over the sink once the head is written (never, if the client went).
  for (int i = 0; i < 100; ++i) {
    if (stop_) return;
    if (sink_future.wait_for(std::chrono::milliseconds(100)) == std::future_status::ready) break;
  }
  if (sink_future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return;
  std::shared_ptr<http::StreamSink> sink = sink_future.get();
  Relay(sink, base, std::move(own), allowed);
  sink->close();
}

void SseRelay::Relay(const std::shared_ptr<http::StreamSink>& sink, const OwnerRequest& base,
                     std::unique_ptr<OwnerStream> own, const std::function<bool()>& allowed) {
  const std::string self = node_.options().node_id;
  std::map<std::string, Conn> conns;
  conns[self] = Conn{std::move(own), {}, Clock::now()};
  std::string last_partial;
  Clock::time_point next_refresh = Clock::now();
  while (!stop_ && sink->is_open()) {
    if (Clock::now() >= next_refresh) {
      next_refresh = Clock::now() + kRefresh;
      // The client's session logged out, expired or lost its key: the stream ends.
      if (allowed && !allowed()) return;
      std::map<std::string, std::vector<uint32_t>> by_owner;
      std::set<uint32_t> missing;
      for (const PartitionView& p : node_.partitions()) {
        if (p.owner.empty() || (p.owner == self && !p.served_here))
          missing.insert(p.id);
        else
          by_owner[p.owner].push_back(p.id);
      }
      by_owner.try_emplace(self);  // its `stats` events, owner or not
      std::map<std::string, std::string> advertise;
      for (const NodeView& n : node_.nodes()) advertise[n.id] = n.advertise;
      for (auto it = conns.begin(); it != conns.end();)
        it = by_owner.contains(it->first) ? std::next(it) : conns.erase(it);
      for (const auto& [owner, parts] : by_owner) {
        if (conns.contains(owner)) continue;
        std::string host, port, error;
        auto a = advertise.find(owner);
        std::unique_ptr<OwnerStream> s;
        if (a != advertise.end() && SplitAdvertiseUrl(a->second, host, port))
          s = OwnerStream::Open(host, port, base, kOpenTimeoutMs, error);
        if (s && (s->status() == 401 || s->status() == 403)) {
          // The credential was revoked or lost its role: the stream ends, as on one node.
          return;
        }
        if (!s || s->status() != 200) {
          missing.insert(parts.begin(), parts.end());
          continue;
        }
        conns[owner] = Conn{std::move(s), {}, Clock::now()};
      }
      JsonWriter w;
      w.begin_object().field("partial", !missing.empty()).key("missing_partitions").begin_array();
      for (uint32_t p : missing) w.value(static_cast<int64_t>(p));
      w.end_array().end_object();
      std::string partial = w.take();
      if (partial != last_partial) {
        if (!sink->write("event: partial\ndata: " + partial + "\n\n")) return;
        last_partial = std::move(partial);
      }
    }
    for (auto it = conns.begin(); it != conns.end();) {
      Conn& c = it->second;
      const OwnerStream::ReadResult r = c.stream->Read(c.buffer, kPollMs);
      bool drop = r == OwnerStream::ReadResult::kEnd || r == OwnerStream::ReadResult::kError;
      if (r == OwnerStream::ReadResult::kData) c.last_data = Clock::now();
      if (r == OwnerStream::ReadResult::kTimeout && Clock::now() - c.last_data > kSilentOwner)
        drop = true;
      size_t start = 0;
      for (size_t end; (end = c.buffer.find("\n\n", start)) != std::string::npos; start = end + 2) {
        std::string_view frame(c.buffer.data() + start, end - start);
        const bool own_only = frame.starts_with(":") || frame.starts_with("event: stats\n");
        if (own_only && it->first != self) continue;
        if (!sink->write(std::string(frame) + "\n\n")) return;
      }
      c.buffer.erase(0, start);
      if (drop) {
        it = conns.erase(it);
        next_refresh = Clock::now();  // say so (partial) and try again at once
      } else {
        ++it;
      }
    }
    if (conns.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace fp::cluster
