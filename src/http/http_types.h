#pragma once
// The request and response as handlers see them: plain values, no Boost.Beast types, so
// handler files compile fast and can be unit-tested without a socket.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/result.h"

namespace fp::http {

enum class Method { kGet, kHead, kPost, kPut, kPatch, kDelete, kOptions, kOther };
std::string_view to_string(Method m);

struct Request {
  Method method = Method::kGet;
  std::string target;                                     // as received: path and query
  std::string path;                                       // percent-decoded path
  std::map<std::string, std::string, std::less<>> query;  // decoded; last value wins
  std::string authorization;                              // the Authorization header, if any
  std::string content_type;
  std::string content_encoding;  // Content-Encoding ("gzip"); the dispatcher inflates the body
  std::string origin;            // Origin (CORS)
  std::string user_agent;
  std::string access_control_request_method;  // CORS preflight
  std::string access_control_request_headers;
  std::string body;
  std::string remote_address;
  std::chrono::steady_clock::time_point received_at;
  // authsec: dashboard session cookie and its CSRF protection.
  std::string cookie;      // the Cookie header
  std::string csrf_token;  // X-CSRF-Token
  std::string host;        // Host (same-origin check of Origin)
  bool tls = false;        // received over HTTPS
  // promql: Accept-Encoding (the Prometheus API answers gzip when it lists gzip).
  std::string accept_encoding;

  // Query parameter or nullopt.
  std::optional<std::string_view> param(std::string_view name) const {
    auto it = query.find(name);
    if (it == query.end()) return std::nullopt;
    return std::string_view(it->second);
  }
};

// The writing end of a long-lived streamed response (Server-Sent Events). Thread-safe:
// write() only queues and never blocks; the connection's own strand does the socket writes.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // Queues `data` for the client. False once the stream is closed, which it also becomes when
  // more than the response's stream_queue_limit bytes wait (a client too slow to keep up).
  virtual bool write(std::string data) = 0;
  virtual void close() = 0;
  virtual bool is_open() const = 0;
  // Bytes queued and not yet written to the socket (a producer that must not drop data, like
  // an export, waits while this is high instead of overrunning the limit).
  virtual size_t queued_bytes() const = 0;
  // Ends the stream once everything queued is written (close() drops what is queued).
  virtual void finish() = 0;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Set for a streamed response: the server sends the status and headers (no length; the
  // body ends when the connection closes), then calls `on_stream` with the sink to write to.
  std::function<void(std::shared_ptr<StreamSink>)> on_stream;
  size_t stream_queue_limit = 1 << 20;
  // A streamed response to an HTTP/1.1 request sent with Transfer-Encoding: chunked: finish()
  // writes the last chunk, so a client can tell a complete body from a cut one (close()).
  bool stream_chunked = false;

  static Response json(int status, std::string body) {
    Response r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
  static Response no_content() {
    Response r;
    r.status = 204;
    r.content_type.clear();
    return r;
  }
};

// Completes a request. Must be called exactly once, from any thread.
using Responder = std::function<void(Response)>;

// {"error":{"code":...,"message":...}} with the status. `details` is raw JSON (an array) or empty.
Response error_response(int status, std::string_view code, std::string_view message,
                        std::string_view details_json = {});
// Maps a Status to its HTTP status and error code.
Response error_response(const Status& s);

// The error body a route's clients expect: fleetpulse's own (above), or InfluxDB's on the
// InfluxDB-compatible routes: 2.x `{"code":"invalid","message":...}`, 1.x `{"error":...}`
// (where 429 becomes 503, as InfluxDB 1.x answers overload).
enum class ErrorStyle { kApi, kInfluxV2, kInfluxV1 };
Response styled_error(ErrorStyle style, int status, std::string_view code,
                      std::string_view message);

}  // namespace fp::http
