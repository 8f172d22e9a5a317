#pragma once
// HttpLoadClient: sends POST requests to one fleetpulse server over a pool of keep-alive
// connections, several in flight at once, and reports each answer to a callback.
//
// `submit` queues a request and blocks while `queue_capacity` requests already wait, which is
// how a producer faster than the server is slowed down. Each worker thread owns one
// connection (Boost.Beast, synchronous), reconnects after errors, and retries a request on a
// lost connection or a 429/503 answer (after Retry-After) up to `max_attempts` times.
//
// Thread safety: submit/drain from one producer thread; callbacks run on worker threads.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "util/result.h"

namespace fp::sim {

struct HttpTarget {
  std::string host;
  std::string port;
  std::string base_path;  // prefix before /api/v1/..., usually empty
};

// Parses "http://host:port[/prefix]". https is not supported (kInvalidArgument); MQTT
// targets are parsed by parse_mqtt_target.
Result<HttpTarget> parse_http_target(std::string_view url);

struct HttpAnswer {
  int status = 0;  // 0: no answer (connection failed after every attempt)
  std::string body;
  std::string error;                    // transport error text when status == 0
  std::chrono::nanoseconds latency{0};  // of the last attempt, request written to answer read
};

struct HttpRequestSpec {
  std::string path;  // e.g. "/api/v1/telemetry"
  std::string body;
  std::function<void(const HttpAnswer&)> on_answer;  // called once, on a worker thread
};

class HttpLoadClient {
 public:
  HttpLoadClient(HttpTarget target, std::string api_key, int connections, size_t queue_capacity,
                 int max_attempts = 5);
  ~HttpLoadClient();  // drains, then stops the workers
  HttpLoadClient(const HttpLoadClient&) = delete;
  HttpLoadClient& operator=(const HttpLoadClient&) = delete;

  void submit(HttpRequestSpec request);
  // Blocks until every submitted request has been answered.
  void drain();
  // Requests queued or being sent now.
  size_t in_flight() const;

 private:
  void worker_loop();

  const HttpTarget target_;
  const std::string authorization_;
  const size_t queue_capacity_;
  const int max_attempts_;

  mutable std::mutex mu_;
  std::condition_variable can_push_, can_pop_, idle_;
  std::deque<HttpRequestSpec> queue_;  // guarded by mu_
  size_t busy_ = 0;                    // guarded by mu_: requests popped, not yet answered
  bool stopping_ = false;              // guarded by mu_
  std::vector<std::thread> workers_;
};

}  // namespace fp::sim
