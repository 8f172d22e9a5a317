#pragma once
// LiveEventHub: fans events out to the clients of the live stream (GET /api/v1/stream,
// Server-Sent Events): `status`, `alert`, `stats` every 2 s, `telemetry` for the devices a
// client subscribed to, and a `: keepalive` comment every 15 s.
//
// Publishing never blocks: a subscriber's writer only queues (bounded; a client that falls
// behind is disconnected by its writer returning false, and is then dropped here). So the
// ingest commit thread may publish directly.
//
// Thread safety: every method may be called from any thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "model/device.h"
#include "model/reading_batch.h"

namespace fp {

struct LiveHubOptions {
  std::chrono::milliseconds stats_every{2000};
  std::chrono::milliseconds keepalive_every{15'000};
};

class LiveEventHub {
 public:
  // Queues one SSE frame for the client; false once the client is gone.
  using Writer = std::function<bool(std::string frame)>;
  // Produces the `stats` event's data (the body of GET /api/v1/stats).
  using StatsSource = std::function<std::string()>;

  explicit LiveEventHub(LiveHubOptions options = {});
  ~LiveEventHub();

  // Starts the thread that sends `stats` and keepalives.
  void start(StatsSource stats);
  void stop();

  // Adds a client. `devices`: telemetry subscriptions (empty: no telemetry events).
  // The client gets a first comment at once, so it knows the stream is open. `principal` is
  // who opened it (an API key id) and `closer` ends the stream; both are used by
  // disconnect_principal().
  int64_t subscribe(Writer writer, std::vector<std::string> devices, std::string principal = {},
                    std::function<void()> closer = {});
  // Ends every stream opened by `principal` (its key was revoked or its role changed) and
  // returns how many. The closers run after the hub's lock is released.
  size_t disconnect_principal(const std::string& principal);
  size_t subscribers() const;

  // `event: <name>\ndata: <json>\n\n` to every client.
  void publish(std::string_view event, std::string_view json);
  void publish_status(const StatusTransition& t);
  // `telemetry` events for the points of subscribed devices (cheap when nobody subscribed).
  void publish_telemetry(const ReadingBatch& batch);

  static std::string frame(std::string_view event, std::string_view json);

 private:
  struct Subscriber {
    int64_t id;
    Writer write;
    std::unordered_set<std::string> devices;
    std::string principal;
    std::function<void()> close;
  };
  void run();
  void send_all(const std::string& frame);  // drops clients that are gone; mu_ held
  void forget(const Subscriber& s);         // mu_ held

  const LiveHubOptions options_;
  StatsSource stats_;

  mutable std::mutex mu_;
  std::vector<Subscriber> subscribers_;  // guarded by mu_
  int64_t next_id_ = 1;                  // guarded by mu_
  std::atomic<int> telemetry_subscribers_{0};
  // How many clients subscribed to each device, so a batch costs one lookup per device of the
  // batch and nothing per point of a device nobody watches. Guarded by mu_.
  std::unordered_map<std::string, int> watched_;

  std::mutex thread_mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by thread_mu_
  std::thread thread_;
};

}  // namespace fp
