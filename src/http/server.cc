#include "http/server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <charconv>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "util/open_files.h"

namespace fp::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool percent_decode(std::string_view in, std::string& out, bool plus_is_space) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hex_value(in[i + 1]);
      int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return true;
}

Method to_method(bhttp::verb v) {
  switch (v) {
    case bhttp::verb::get:
      return Method::kGet;
    case bhttp::verb::head:
      return Method::kHead;
    case bhttp::verb::post:
      return Method::kPost;
    case bhttp::verb::put:
      return Method::kPut;
    case bhttp::verb::patch:
      return Method::kPatch;
    case bhttp::verb::delete_:
      return Method::kDelete;
    case bhttp::verb::options:
      return Method::kOptions;
    default:
      return Method::kOther;
  }
}

// True when the request's Transfer-Encoding is absent or exactly `chunked`: the only coding
// HTTP/1.1 requires and the only one this server decodes. Anything else (gzip, a list, a
// repeated header) would otherwise be read as an empty body followed by garbage.
template <class Fields>
bool transfer_coding_supported(const Fields& fields) {
  auto range = fields.equal_range(bhttp::field::transfer_encoding);
  if (range.first == range.second) return true;
  if (std::next(range.first) != range.second) return false;
  std::string_view v = range.first->value();
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return beast::iequals(v, "chunked");
}

// A complete 503 answer for a connection refused at a cap, sent without a session.
std::string refusal_response(std::string_view message) {
  const std::string body =
      R"({"error":{"code":"too_many_connections","message":")" + std::string(message) + "\"}}";
  return "HTTP/1.1 503 Service Unavailable\r\nServer: fleetpulse\r\n"
         "Content-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

constexpr std::chrono::milliseconds kAcceptBackoffMin{50};
constexpr std::chrono::milliseconds kAcceptBackoffMax{500};

}  // namespace

bool parse_target(std::string_view target, std::string& path,
                  std::map<std::string, std::string, std::less<>>& query) {
  size_t q = target.find('?');
  if (!percent_decode(target.substr(0, q), path, false)) return false;
  if (path.empty() || path[0] != '/') return false;
  if (q == std::string_view::npos) return true;
  std::string_view rest = target.substr(q + 1);
  std::string k, v;
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    if (!percent_decode(pair.substr(0, eq), k, true)) return false;
    if (!percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), v,
                        true))
      return false;
    query[k] = v;
  }
  return true;
}

// What the server needs of a connection of either kind (plain or TLS).
struct ConnectionSlot;

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void start() = 0;
  virtual void close() = 0;

  // Whether the connection waits for a request it has not completely sent (a new or a
  // kept-alive connection, a slow header): such a connection may be closed to make room for a
  // new one at a cap (see HttpServer::Impl::evict_oldest_waiting). Set on the strand, read by
  // the accept handler.
  void set_waiting(bool waiting) {
    if (waiting)
      waiting_since_.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                           std::memory_order_relaxed);
    waiting_.store(waiting, std::memory_order_relaxed);
  }
  bool waiting() const { return waiting_.load(std::memory_order_relaxed); }
  int64_t waiting_since() const { return waiting_since_.load(std::memory_order_relaxed); }

  ConnectionSlot* slot = nullptr;  // set once, before start()

 private:
  std::atomic<bool> waiting_{true};
  std::atomic<int64_t> waiting_since_{std::chrono::steady_clock::now().time_since_epoch().count()};
};

using TlsContext = std::shared_ptr<net::ssl::context>;

// A TLS context from PEM files (chain, key), TLS 1.2 and newer.
Result<TlsContext> load_tls_context(const std::string& cert_file, const std::string& key_file) {
  auto ctx = std::make_shared<net::ssl::context>(net::ssl::context::tls_server);
  ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                   net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                   net::ssl::context::no_tlsv1_1);
  beast::error_code ec;
  ctx->use_certificate_chain_file(cert_file, ec);
  if (ec)
    return Status::InvalidArgument("cannot use TLS certificate " + cert_file + ": " + ec.message());
  ctx->use_private_key_file(key_file, net::ssl::context::pem, ec);
  if (ec) return Status::InvalidArgument("cannot use TLS key " + key_file + ": " + ec.message());
  return ctx;
}

struct HttpServer::Impl {
  ServerOptions options;
  Dispatch dispatch;
  net::io_context ioc{options.threads};
  tcp::acceptor acceptor{ioc};
  tcp::acceptor tls_acceptor{ioc};
  std::mutex tls_mu;
  TlsContext tls;  // guarded by tls_mu; replaced whole by reload_tls()
  std::vector<std::thread> threads;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::atomic<bool> accepting{false};
  std::atomic<size_t> in_flight{0};
  std::atomic<size_t> connections{0};
  size_t connection_cap = 0;  // set by listen(): options.max_connections within the fd budget
  std::mutex per_address_mu;
  struct AddressCount {
    size_t open = 0;
    size_t evicting = 0;  // of `open`, closed to make room but not released yet
  };
  std::unordered_map<std::string, AddressCount> per_address;  // guarded by per_address_mu
  std::atomic<uint64_t> refused_total_cap{0};
  std::atomic<uint64_t> refused_address_cap{0};
  std::atomic<uint64_t> header_timeouts{0};
  std::atomic<uint64_t> body_timeouts{0};
  std::atomic<uint64_t> idle_timeouts{0};
  std::atomic<uint64_t> accept_errors{0};
  std::atomic<uint64_t> evicted_waiting{0};
  // Connections closed to make room (see evict_oldest_waiting) whose slot is not released yet:
  // they still hold a descriptor for a moment but no longer count against the caps.
  std::atomic<size_t> evicting{0};
  std::mutex sessions_mu;
  std::set<std::weak_ptr<SessionBase>, std::owner_less<std::weak_ptr<SessionBase>>> sessions;

  Impl(ServerOptions o, Dispatch d) : options(std::move(o)), dispatch(std::move(d)) {}
  // Accepts on `from` forever; after an accept error (EMFILE...) it waits `backoff` first.
  void do_accept(tcp::acceptor& from, bool tls,
                 std::chrono::milliseconds backoff = std::chrono::milliseconds(0));
  void on_accept(tcp::acceptor& from, bool tls, tcp::socket socket);
  // Takes a slot for a connection from `address`; at either cap, says which (and counts it).
  enum class Refusal { kNone, kTotalCap, kAddressCap };
  Refusal take_slot(const std::string& address);
  void release_slot(const ConnectionSlot& slot);
  // Closes the connection that has waited longest for a request it has not completely sent
  // (from `address`, or from anywhere when it is null) and marks its slot as being released.
  // False when every connection is busy with a request (or a stream).
  bool evict_oldest_waiting(const std::string* address);
  TlsContext current_tls() {
    std::lock_guard lock(tls_mu);
    return tls;
  }
};

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One connection: HTTP/1.1 over `Stream` (PlainStream or TlsStream), on its own strand.
template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(tcp::socket&& socket, HttpServer::Impl& server, TlsContext tls = nullptr)
      : stream_(make_stream(std::move(socket), tls)), server_(server), tls_(std::move(tls)) {
    beast::error_code ec;
    auto ep = socket_().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string();
    socket_().set_option(tcp::no_delay(true), ec);
  }

  void start() override {
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (std::is_same_v<Stream, TlsStream>) {
        self->phase_ = Phase::kHeader;  // a handshake too slow counts as a slow header
        beast::get_lowest_layer(self->stream_).expires_after(self->server_.options.header_timeout);
        self->stream_.async_handshake(net::ssl::stream_base::server, [self](beast::error_code ec) {
          if (ec) return self->count_timeout(ec);  // not TLS, or a bad client: just close
          self->read_header();
        });
      } else {
        self->read_header();
      }
    });
  }

  void close() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] {
      beast::error_code ec;
      self->socket_().shutdown(tcp::socket::shutdown_both, ec);
      beast::get_lowest_layer(self->stream_).close();
    });
  }

 private:
  static Stream make_stream(tcp::socket&& socket, const TlsContext& tls) {
    if constexpr (std::is_same_v<Stream, TlsStream>)
      return Stream(std::move(socket), *tls);
    else
      return Stream(std::move(socket));
  }
  tcp::socket& socket_() { return beast::get_lowest_layer(stream_).socket(); }
  auto shared_from_this() {
    return std::enable_shared_from_this<Session<Stream>>::shared_from_this();
  }

  // What the connection waits for; decides which timeout a timer expiry counts as.
  enum class Phase { kIdle, kHeader, kBody };

  // The next request's header, all of it within header_timeout (a new connection's clock
  // starts at the accept, a kept-alive one's at the request's first byte).
  void read_header() {
    parser_.emplace();
    parser_->body_limit(server_.options.max_body_bytes);
    parser_->header_limit(64 * 1024);
    phase_ = Phase::kHeader;
    beast::get_lowest_layer(stream_).expires_after(server_.options.header_timeout);
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  // After a kept-alive answer: up to idle_timeout for the next request's first bytes.
  void await_next_request() {
    set_waiting(true);
    if (buffer_.size() > 0) return read_header();  // pipelined: already here
    phase_ = Phase::kIdle;
    beast::get_lowest_layer(stream_).expires_after(server_.options.idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec) return self->on_read_error(ec);
                              self->buffer_.commit(n);
                              self->read_header();
                            });
  }

  void on_header(beast::error_code ec) {
    if (ec) return on_read_error(ec);
    set_waiting(false);  // a request under way is never closed to make room
    auto& req = parser_->get();
    if (!transfer_coding_supported(req))
      return reply_error_and_close(501, "not_implemented",
                                   "Transfer-Encoding '" +
                                       std::string(req[bhttp::field::transfer_encoding]) +
                                       "' is not supported: send the body with Content-Length "
                                       "or Transfer-Encoding: chunked");
    if (parser_->content_length() && *parser_->content_length() > server_.options.max_body_bytes)
      return reply_error_and_close(413, "payload_too_large",
                                   "request body is larger than the limit");
    if (beast::iequals(req[bhttp::field::expect], "100-continue")) {
      auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_,
                                                                       req.version());
      bhttp::async_write(stream_, *cont,
                         [self = shared_from_this(), cont](beast::error_code e, size_t) {
                           if (e) return;
                           self->read_body();
                         });
      return;
    }
    read_body();
  }

  // The body in steps, each within body_timeout: a client may send slowly, but it has to keep
  // sending (a body shorter than its Content-Length ends here instead of holding the
  // connection).
  void read_body() {
    if (parser_->is_done()) return on_body({});
    phase_ = Phase::kBody;
    beast::get_lowest_layer(stream_).expires_after(server_.options.body_timeout);
    bhttp::async_read_some(stream_, buffer_, *parser_,
                           [self = shared_from_this()](beast::error_code ec, size_t) {
                             if (ec) return self->on_read_error(ec);
                             self->read_body();
                           });
  }

  // A timer expiry is counted by what the connection was waiting for; other errors are not.
  void count_timeout(beast::error_code ec) {
    if (ec != beast::error::timeout) return;
    switch (phase_) {
      case Phase::kIdle:
        ++server_.idle_timeouts;
        break;
      case Phase::kHeader:
        ++server_.header_timeouts;
        break;
      case Phase::kBody:
        ++server_.body_timeouts;
        break;
    }
  }

  void on_read_error(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset ||
        ec == net::error::bad_descriptor) {
      count_timeout(ec);
      beast::error_code ignored;
      socket_().shutdown(tcp::socket::shutdown_send, ignored);
      return;
    }
    if (ec == bhttp::error::body_limit)
      return reply_error_and_close(413, "payload_too_large",
                                   "request body is larger than the limit");
    if (ec == bhttp::error::header_limit)
      return reply_error_and_close(431, "headers_too_large", "request headers are too large");
    reply_error_and_close(400, "bad_request", "malformed HTTP request: " + ec.message());
  }

  void reply_error_and_close(int status, std::string_view code, std::string_view message) {
    Response r = error_response(status, code, message);
    ++server_.in_flight;
    write(std::move(r), 11, /*keep_alive=*/false, /*head=*/false);
  }

  void on_body(beast::error_code ec) {
    if (ec) return on_read_error(ec);
    auto msg = parser_->release();
    Request r;
    r.method = to_method(msg.method());
    r.target = std::string(msg.target());
    r.received_at = std::chrono::steady_clock::now();
    r.remote_address = remote_;
    r.authorization = std::string(msg[bhttp::field::authorization]);
    r.content_type = std::string(msg[bhttp::field::content_type]);
    r.content_encoding = std::string(msg[bhttp::field::content_encoding]);
    r.origin = std::string(msg[bhttp::field::origin]);
    r.user_agent = std::string(msg[bhttp::field::user_agent]);
    r.access_control_request_method = std::string(msg[bhttp::field::access_control_request_method]);
    r.access_control_request_headers =
        std::string(msg[bhttp::field::access_control_request_headers]);
    r.cookie = std::string(msg[bhttp::field::cookie]);  // authsec: session cookie, CSRF
    r.csrf_token = std::string(msg["X-CSRF-Token"]);
    r.host = std::string(msg[bhttp::field::host]);
    r.tls = std::is_same_v<Stream, TlsStream>;
    r.accept_encoding = std::string(msg[bhttp::field::accept_encoding]);  // promql: gzip answers
    r.body = std::move(msg.body());
    const bool keep_alive = msg.keep_alive();
    const unsigned version = msg.version();
    const bool head = r.method == Method::kHead;
    ++server_.in_flight;
    // No route takes any other method: say which one, here, where its name is still known.
    if (r.method == Method::kOther) {
      write(error_response(501, "method_not_implemented",
                           std::string(msg.method_string()) +
                               " is not implemented (fleetpulse takes GET, HEAD, POST, PUT, "
                               "PATCH, DELETE and OPTIONS)"),
            version, keep_alive, false);
      return;
    }
    if (!parse_target(r.target, r.path, r.query)) {
      write(error_response(400, "bad_request", "malformed request target"), version, false, head);
      return;
    }
    server_.dispatch(
        std::move(r), [self = shared_from_this(), keep_alive, version, head](Response resp) {
          net::post(self->stream_.get_executor(),
                    [self, resp = std::move(resp), keep_alive, version, head]() mutable {
                      self->write(std::move(resp), version, keep_alive, head);
                    });
        });
  }

  void write(Response resp, unsigned version, bool keep_alive, bool head) {
    if (resp.on_stream && !head) return start_stream(std::move(resp), version);
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(resp.status), version);
    res->set(bhttp::field::server, "fleetpulse");
    // Every answer is what its Content-Type says: browsers must not guess (a handler may set
    // the header again; set() replaces).
    res->set("X-Content-Type-Options", "nosniff");
    if (!resp.content_type.empty()) res->set(bhttp::field::content_type, resp.content_type);
    for (auto& [k, v] : resp.headers) res->set(k, v);
    res->keep_alive(keep_alive && server_.accepting.load());
    const size_t length = resp.body.size();
    if (!head) res->body() = std::move(resp.body);
    res->prepare_payload();
    if (head) res->content_length(length);
    const bool close = !res->keep_alive();
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(30));
    bhttp::async_write(stream_, *res,
                       [self = shared_from_this(), res, close](beast::error_code ec, size_t) {
                         --self->server_.in_flight;
                         if (ec) return;
                         if (close) {
                           beast::error_code ignored;
                           self->socket_().shutdown(tcp::socket::shutdown_send, ignored);
                           return;
                         }
                         self->await_next_request();
                       });
  }

  // A streamed response: headers without a length (the body ends with the connection), then
  // whatever the sink queues, written in order on this strand. A read that completes (the
  // client closed or sent something) ends the stream.
  class Sink final : public StreamSink, public std::enable_shared_from_this<Sink> {
   public:
    Sink(std::shared_ptr<Session> s, size_t limit, bool chunked = false)
        : session_(std::move(s)), limit_(limit), chunked_(chunked) {}
    bool write(std::string data) override {
      std::lock_guard lock(mu_);
      if (!open_) return false;
      if (chunked_) {  // one chunk: size in hex, CRLF, the bytes, CRLF
        if (data.empty()) return true;
        char size[20];
        const auto end = std::to_chars(size, size + sizeof size, data.size(), 16).ptr;
        data = std::string(size, end) + "\r\n" + data + "\r\n";
      }
      if (queued_bytes_ + data.size() > limit_) {
        close_locked();
        return false;
      }
      queued_bytes_ += data.size();
      queue_.push_back(std::move(data));
      if (!writing_) {
        writing_ = true;
        net::post(session_->stream_.get_executor(), [self = shared()] { self->pump(); });
      }
      return true;
    }
    void close() override {
      std::lock_guard lock(mu_);
      close_locked();
    }
    bool is_open() const override {
      std::lock_guard lock(mu_);
      return open_;
    }
    size_t queued_bytes() const override {
      std::lock_guard lock(mu_);
      return queued_bytes_;
    }
    void finish() override {
      std::lock_guard lock(mu_);
      if (finishing_ || !open_) return;
      finishing_ = true;
      if (chunked_) {  // the last chunk: the body is complete
        queue_.emplace_back("0\r\n\r\n");
        queued_bytes_ += queue_.back().size();
        if (!writing_) {
          writing_ = true;
          net::post(session_->stream_.get_executor(), [self = shared()] { self->pump(); });
        }
        return;
      }
      if (!writing_ && queue_.empty()) close_locked();
    }

   private:
    friend class Session;
    std::shared_ptr<Sink> shared() {
      return this->std::enable_shared_from_this<Sink>::shared_from_this();
    }
    void close_locked() {
      if (!open_) return;
      open_ = false;
      // The front may be in an async_write: it stays until that completes.
      while (queue_.size() > (writing_ ? 1u : 0u)) queue_.pop_back();
      session_->close();
    }
    // On the session's strand: writes the queue's front, then the next.
    void pump() {
      std::string* front;
      {
        std::lock_guard lock(mu_);
        if (!open_ || queue_.empty()) {
          writing_ = false;
          if (open_ && finishing_) close_locked();
          return;
        }
        front = &queue_.front();
      }
      net::async_write(session_->stream_, net::buffer(*front),
                       [self = shared()](beast::error_code ec, size_t) {
                         {
                           std::lock_guard lock(self->mu_);
                           self->queued_bytes_ -= self->queue_.front().size();
                           self->queue_.pop_front();
                           if (ec) {
                             self->writing_ = false;
                             self->close_locked();
                             return;
                           }
                         }
                         self->pump();
                       });
    }

    std::shared_ptr<Session> session_;
    const size_t limit_;
    const bool chunked_;
    mutable std::mutex mu_;
    std::deque<std::string> queue_;  // guarded by mu_; the front is being written
    size_t queued_bytes_ = 0;        // guarded by mu_
    bool writing_ = false;           // guarded by mu_
    bool open_ = true;               // guarded by mu_
    bool finishing_ = false;         // guarded by mu_: close once the queue is written
  };

  void start_stream(Response resp, unsigned version) {
    auto res = std::make_shared<bhttp::response<bhttp::empty_body>>(
        static_cast<bhttp::status>(resp.status), version);
    res->set(bhttp::field::server, "fleetpulse");
    res->set(bhttp::field::content_type, resp.content_type);
    for (auto& [k, v] : resp.headers) res->set(k, v);
    res->keep_alive(false);
    const bool chunked = resp.stream_chunked && version == 11;
    if (chunked) res->chunked(true);
    auto sr = std::make_shared<bhttp::response_serializer<bhttp::empty_body>>(*res);
    beast::get_lowest_layer(stream_).expires_never();
    bhttp::async_write_header(
        stream_, *sr,
        [self = shared_from_this(), res, sr, on_stream = std::move(resp.on_stream),
         limit = resp.stream_queue_limit, chunked](beast::error_code ec, size_t) {
          --self->server_.in_flight;  // a stream does not hold up a graceful shutdown
          if (ec) return;
          auto sink = std::make_shared<Sink>(self, limit, chunked);
          self->watch_stream_end(sink);
          on_stream(sink);
        });
  }

  void watch_stream_end(std::shared_ptr<Sink> sink) {
    stream_.async_read_some(net::buffer(discard_),
                            [sink](beast::error_code, size_t) { sink->close(); });
  }

  char discard_[256];
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  HttpServer::Impl& server_;
  TlsContext tls_;  // keeps the context this connection was made with (reloads replace it)
  std::string remote_;
  Phase phase_ = Phase::kHeader;  // on the strand
};

// Holds a connection's place under the caps for as long as its Session lives.
struct ConnectionSlot {
  ConnectionSlot(HttpServer::Impl& s, std::string a) : server(s), address(std::move(a)) {}
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;
  ~ConnectionSlot() { server.release_slot(*this); }

  HttpServer::Impl& server;
  const std::string address;
  std::atomic<bool> evicted{false};  // closed to make room: counted in Impl::evicting
};

HttpServer::Impl::Refusal HttpServer::Impl::take_slot(const std::string& address) {
  // Only the accept handlers add connections (one at a time per listener): with HTTP and
  // HTTPS both on, the total may overshoot the cap by one. At a cap, a connection that waits
  // for a request makes room (the oldest first, from the same address at the per-address cap),
  // so that idle or slow sockets cannot lock out a client with a request to send; only when
  // every connection is busy is the new one refused.
  const size_t per_address_cap = options.max_connections_per_address;
  auto address_full = [&] {
    std::lock_guard lock(per_address_mu);
    auto it = per_address.find(address);
    return it != per_address.end() && it->second.open - it->second.evicting >= per_address_cap;
  };
  if (per_address_cap > 0 && address_full() && !evict_oldest_waiting(&address)) {
    ++refused_address_cap;
    return Refusal::kAddressCap;
  }
  const size_t open = connections.load(), closing = evicting.load();
  if (open > closing && open - closing >= connection_cap && !evict_oldest_waiting(nullptr)) {
    ++refused_total_cap;
    return Refusal::kTotalCap;
  }
  if (per_address_cap > 0) {
    std::lock_guard lock(per_address_mu);
    ++per_address[address].open;
  }
  ++connections;
  return Refusal::kNone;
}

bool HttpServer::Impl::evict_oldest_waiting(const std::string* address) {
  std::shared_ptr<SessionBase> oldest;
  {
    std::lock_guard lock(sessions_mu);
    for (auto& w : sessions) {
      auto s = w.lock();
      if (!s || !s->waiting() || !s->slot || s->slot->evicted.load()) continue;
      if (address && s->slot->address != *address) continue;
      if (!oldest || s->waiting_since() < oldest->waiting_since()) oldest = std::move(s);
    }
    // Marked under the lock: two accepts never pick the same connection.
    if (!oldest) return false;
    oldest->slot->evicted = true;
  }
  ++evicting;
  {
    std::lock_guard lock(per_address_mu);
    if (auto it = per_address.find(oldest->slot->address); it != per_address.end())
      ++it->second.evicting;
  }
  ++evicted_waiting;
  oldest->close();
  return true;
}

void HttpServer::Impl::release_slot(const ConnectionSlot& slot) {
  const bool evicted = slot.evicted.load();
  if (evicted) --evicting;
  --connections;
  if (options.max_connections_per_address == 0) return;
  std::lock_guard lock(per_address_mu);
  auto it = per_address.find(slot.address);
  if (it == per_address.end()) return;
  if (evicted && it->second.evicting > 0) --it->second.evicting;
  if (--it->second.open == 0) per_address.erase(it);
}

void HttpServer::Impl::do_accept(tcp::acceptor& from, bool tls, std::chrono::milliseconds backoff) {
  from.async_accept(
      net::make_strand(ioc), [this, &from, tls, backoff](beast::error_code ec, tcp::socket socket) {
        if (!accepting.load() || ec == net::error::operation_aborted) return;
        if (!ec || ec == net::error::connection_aborted) {
          if (!ec) on_accept(from, tls, std::move(socket));
          return do_accept(from, tls);
        }
        // Out of descriptors (EMFILE, ENFILE) or kernel memory: the pending connection stays
        // in the backlog and the next accept would fail at once, so wait (50 ms, doubling up
        // to 500 ms) instead of spinning; accepting resumes when descriptors are freed.
        ++accept_errors;
        const auto wait = std::clamp(backoff * 2, kAcceptBackoffMin, kAcceptBackoffMax);
        if (backoff.count() == 0)
          spdlog::warn("event=accept_failed transport={} reason=\"{}\" retry_ms={}",
                       tls ? "https" : "http", ec.message(), wait.count());
        auto timer = std::make_shared<net::steady_timer>(ioc, wait);
        timer->async_wait([this, &from, tls, wait, timer](beast::error_code) {
          if (accepting.load()) do_accept(from, tls, wait);
        });
      });
}

void HttpServer::Impl::on_accept(tcp::acceptor&, bool tls, tcp::socket socket) {
  beast::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  std::string address = ec ? std::string() : ep.address().to_string();
  if (const Refusal refused = take_slot(address); refused != Refusal::kNone) {
    // Refused: a 503 if the socket takes it at once, then closed. No session, no waiting.
    static const std::string kBusy =
        refusal_response("the server has too many open connections; retry later");
    static const std::string kBusyAddress =
        refusal_response("too many open connections from this address; close some or retry later");
    socket.non_blocking(true, ec);
    socket.send(net::buffer(refused == Refusal::kAddressCap ? kBusyAddress : kBusy), 0, ec);
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
    return;
  }
  // The slot is released with the session, not with the control block: weak_ptrs in
  // `sessions` keep that alive until the next accept sweeps them.
  auto slot = std::make_unique<ConnectionSlot>(*this, std::move(address));
  ConnectionSlot* const slot_ptr = slot.get();
  std::shared_ptr<SessionBase> s;
  if (tls)
    s = std::shared_ptr<Session<TlsStream>>(
        new Session<TlsStream>(std::move(socket), *this, current_tls()),
        [slot = std::move(slot)](Session<TlsStream>* p) mutable {
          delete p;
          slot.reset();
        });
  else
    s = std::shared_ptr<Session<PlainStream>>(
        new Session<PlainStream>(std::move(socket), *this),
        [slot = std::move(slot)](Session<PlainStream>* p) mutable {
          delete p;
          slot.reset();
        });
  s->slot = slot_ptr;
  {
    std::lock_guard lock(sessions_mu);
    for (auto it = sessions.begin(); it != sessions.end();)
      it = it->expired() ? sessions.erase(it) : std::next(it);
    sessions.insert(s);
  }
  s->start();
}

HttpServer::HttpServer(ServerOptions options, Dispatch dispatch)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(dispatch))) {}

HttpServer::~HttpServer() {
  shutdown(std::chrono::milliseconds(0));
}

Status HttpServer::listen() {
  beast::error_code ec;
  auto addr = net::ip::make_address(impl_->options.host, ec);
  if (ec)
    return Status::InvalidArgument("invalid HTTP listen address '" + impl_->options.host + "'");
  tcp::endpoint ep(addr, impl_->options.port);
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return Status::IoError("cannot listen on " + impl_->options.host + ":" +
                           std::to_string(impl_->options.port) + ": " + ec.message());
  // Connections may use three quarters of the descriptors; the rest stay for storage, the
  // catalog, MQTT and the refusals themselves (accepting one to close it takes one).
  const uint64_t fd_limit = open_files_limit();
  impl_->connection_cap = impl_->options.max_connections;
  if (fd_limit > 0 && fd_limit / 4 * 3 < impl_->connection_cap)
    impl_->connection_cap = static_cast<size_t>(fd_limit / 4 * 3);
  if (impl_->connection_cap < impl_->options.max_connections)
    spdlog::warn(
        "event=http_connection_cap_lowered configured={} cap={} open_files_limit={} "
        "hint=\"raise the hard nofile limit (ulimit -Hn, LimitNOFILE=) for more connections\"",
        impl_->options.max_connections, impl_->connection_cap, fd_limit);
  if (!impl_->options.tls_enabled) return Status::Ok();
  if (Status s = reload_tls(); !s.ok()) return s;
  auto tls_addr = net::ip::make_address(impl_->options.tls_host, ec);
  if (ec)
    return Status::InvalidArgument("invalid HTTPS listen address '" + impl_->options.tls_host +
                                   "'");
  tcp::endpoint tls_ep(tls_addr, impl_->options.tls_port);
  auto& t = impl_->tls_acceptor;
  t.open(tls_ep.protocol(), ec);
  if (!ec) t.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) t.bind(tls_ep, ec);
  if (!ec) t.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return Status::IoError("cannot listen on " + impl_->options.tls_host + ":" +
                           std::to_string(impl_->options.tls_port) + " (HTTPS): " + ec.message());
  return Status::Ok();
}

Status HttpServer::reload_tls() {
  auto ctx = load_tls_context(impl_->options.tls_cert_file, impl_->options.tls_key_file);
  if (!ctx.ok()) return ctx.status();
  std::lock_guard lock(impl_->tls_mu);
  impl_->tls = std::move(*ctx);
  return Status::Ok();
}

uint16_t HttpServer::tls_port() const {
  beast::error_code ec;
  auto ep = impl_->tls_acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

uint16_t HttpServer::port() const {
  beast::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void HttpServer::start() {
  impl_->accepting = true;
  impl_->work.emplace(impl_->ioc.get_executor());
  impl_->do_accept(impl_->acceptor, false);
  if (impl_->tls_acceptor.is_open()) impl_->do_accept(impl_->tls_acceptor, true);
  for (int i = 0; i < std::max(1, impl_->options.threads); ++i)
    impl_->threads.emplace_back([this] { impl_->ioc.run(); });
}

void HttpServer::shutdown(std::chrono::milliseconds drain) {
  if (impl_->threads.empty()) return;
  impl_->accepting = false;
  net::post(impl_->ioc, [this] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
    impl_->tls_acceptor.close(ec);
  });
  auto deadline = std::chrono::steady_clock::now() + drain;
  while (impl_->in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  {
    std::lock_guard lock(impl_->sessions_mu);
    for (auto& w : impl_->sessions)
      if (auto s = w.lock()) s->close();
    impl_->sessions.clear();
  }
  impl_->work.reset();
  // Give the posted closes a moment, then stop whatever is left.
  auto stop_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  while (impl_->connections.load() > 0 && std::chrono::steady_clock::now() < stop_at)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
}

size_t HttpServer::open_connections() const {
  return impl_->connections.load();
}
size_t HttpServer::in_flight() const {
  return impl_->in_flight.load();
}

HttpServerStats HttpServer::stats() const {
  HttpServerStats st;
  st.open_connections = impl_->connections.load();
  st.connection_cap = impl_->connection_cap;
  st.refused_total_cap = impl_->refused_total_cap.load();
  st.refused_address_cap = impl_->refused_address_cap.load();
  st.header_timeouts = impl_->header_timeouts.load();
  st.body_timeouts = impl_->body_timeouts.load();
  st.idle_timeouts = impl_->idle_timeouts.load();
  st.accept_errors = impl_->accept_errors.load();
  st.evicted_waiting = impl_->evicted_waiting.load();
  return st;
}

void HttpServer::post_after(std::chrono::milliseconds delay, std::function<void()> fn) {
  auto timer = std::make_shared<net::steady_timer>(impl_->ioc, delay);
  timer->async_wait([timer, fn = std::move(fn)](beast::error_code ec) {
    if (!ec) fn();
  });
}

}  // namespace fp::http
