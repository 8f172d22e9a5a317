#pragma once
// HttpServer: HTTP/1.1 on Boost.Beast with keep-alive, a body-size limit, `Expect:
// 100-continue`, timeouts against slow or idle clients, connection caps (in total and per
// client address) and graceful shutdown. It owns its io_context and the threads
// that run it; every parsed request is handed to `dispatch`, whose Responder may be called
// later from any thread (the write is posted back to the connection).
//
// Boost types stay inside server.cc so that nothing else pays their compile time.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "http/http_types.h"
#include "util/result.h"

namespace fp::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0 picks a free port; see HttpServer::port()
  size_t max_body_bytes = 8 * 1024 * 1024;
  // At either cap, the connection that has waited longest for a request it has not completely
  // sent (new, kept-alive or slow-header) is closed to make room for the new one; when every
  // connection is busy with a request or a stream, the new one is closed right after accept
  // (with a 503 when the socket takes it at once). 0 turns the per-address cap off. The total cap
  // is also held to three quarters of the RLIMIT_NOFILE in force at listen(), so that connections
  // alone cannot use up the descriptors storage and MQTT need.
  size_t max_connections = 10'000;
  size_t max_connections_per_address = 256;
  int threads = 2;
  // The whole request header must arrive within header_timeout of its first byte (of the
  // accept on a new connection); a body may go no longer than body_timeout without a byte;
  // a kept-alive connection may wait idle_timeout for its next request. Any of them: close.
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds idle_timeout{60'000};
  // HTTPS beside plain HTTP (same routes): PEM files, read at listen() and by reload_tls().
  bool tls_enabled = false;
  std::string tls_host = "127.0.0.1";
  uint16_t tls_port = 0;  // 0 picks a free port; see HttpServer::tls_port()
  std::string tls_cert_file;
  std::string tls_key_file;
};

using Dispatch = std::function<void(Request&& req, Responder respond)>;

// What the server has refused or cut off since it started (for /metrics).
struct HttpServerStats {
  size_t open_connections = 0;
  size_t connection_cap = 0;  // the total cap in force (see ServerOptions::max_connections)
  uint64_t refused_total_cap = 0;
  uint64_t refused_address_cap = 0;
  uint64_t header_timeouts = 0;
  uint64_t body_timeouts = 0;
  uint64_t idle_timeouts = 0;
  uint64_t accept_errors = 0;    // e.g. EMFILE: accepting pauses 50-500 ms after each
  uint64_t evicted_waiting = 0;  // connections without a request closed to make room at a cap
};

class HttpServer {
 public:
  HttpServer(ServerOptions options, Dispatch dispatch);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens (also HTTPS when tls_enabled: the certificate must load); the actual
  // ports are known afterwards.
  Status listen();
  uint16_t port() const;
  uint16_t tls_port() const;
  // Reads the certificate and key files again (SIGHUP). New HTTPS connections use them;
  // open ones keep theirs. On error the previous certificate stays in use. Thread-safe.
  Status reload_tls();
  // Starts accepting and the worker threads. Returns immediately.
  void start();
  // Stops accepting, waits up to `drain` for in-flight requests to be answered, closes every
  // connection and joins the threads.
  void shutdown(std::chrono::milliseconds drain);

  size_t open_connections() const;
  size_t in_flight() const;
  HttpServerStats stats() const;  // thread-safe

  // Runs `fn` on the server's threads after `delay` (for periodic work such as SSE stats).
  void post_after(std::chrono::milliseconds delay, std::function<void()> fn);

  struct Impl;  // defined in server.cc

 private:
  std::unique_ptr<Impl> impl_;
};

// Splits a request target into a decoded path and query parameters. False if malformed.
bool parse_target(std::string_view target, std::string& path,
                  std::map<std::string, std::string, std::less<>>& query);

}  // namespace fp::http
