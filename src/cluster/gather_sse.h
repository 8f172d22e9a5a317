#pragma once
// SseRelay: the live stream (GET /api/v1/stream, Server-Sent Events) in cluster mode. Events
// happen where a partition is applied, on its owner; a client connected to any node gets every
// partition's events: the node opens the same stream (`fp_local=1`, the client's credential;
// for a session cookie, this node's internal read key while the session stays live, checked
// every second) on every partition owner — itself included, over its own --advertise URL — and
// relays whole frames to the client. `stats` events and comments are relayed from this node only
// (one `stats` every 2 s, as on a single node; GET /api/v1/stats is the gathered fleet figure). An
// owner that cannot be reached, or sends nothing for 4.5 s (owners send `stats` every 2 s), makes
// its partitions missing: the client gets `event: partial` with
// `{"partial":true,"missing_partitions":[...]}` (and `{"partial":false,...}` once complete
// again); owners are reconnected every second. One thread per relayed client. This node's own
// stream is opened first and its answer to a refused credential or a bad parameter is the
// client's answer.
//
// Thread safety: Serve() from any thread.

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <thread>

#include "cluster/cluster_node.h"
#include "cluster/gather_stream.h"
#include "cluster/owner_http.h"
#include "http/http_types.h"

namespace fp::cluster {

class SseRelay {
 public:
  // `node` must outlive the relay. At most `max_streams` clients relayed at once (503 beyond).
  SseRelay(const ClusterNode& node, size_t max_streams = 64);
  ~SseRelay();  // ends every relayed stream

  // Answers the client's stream request; `base` is the request to send to the owners
  // (target marked fp_local=1, the forwarded credential).
  // `allowed`, when given, is asked every second (ForwardAuth::SessionCheck: the client's
  // session); the stream ends once it says no.
  void Serve(OwnerRequest base, http::Responder& respond, std::function<bool()> allowed = {});

 private:
  struct Session {
    std::thread thread;
    std::atomic<bool> done{false};
  };
  void Run(const http::Responder& respond, const OwnerRequest& base,
           const std::function<bool()>& allowed);
  void Relay(const std::shared_ptr<http::StreamSink>& sink, const OwnerRequest& base,
             std::unique_ptr<OwnerStream> own, const std::function<bool()>& allowed);

  const ClusterNode& node_;
  const size_t max_streams_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::list<Session> sessions_;  // guarded by mu_
};

}  // namespace fp::cluster
