#include "simulate/http_load_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <optional>

namespace fp::sim {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

// One keep-alive connection, opened on first use and after any error.
class Connection {
 public:
  explicit Connection(const HttpTarget& target) : target_(target), socket_(io_) {}

  // Sends one request; on success fills status/body. Returns the transport error, if any.
  std::optional<std::string> exchange(const std::string& target, const std::string& body,
                                      const std::string& authorization, HttpAnswer& answer) {
    beast::error_code ec;
    if (!socket_.is_open()) {
      tcp::resolver resolver(io_);
      auto endpoints = resolver.resolve(target_.host, target_.port, ec);
      if (ec) return "resolve " + target_.host + ": " + ec.message();
      asio::connect(socket_, endpoints, ec);
      if (ec) return "connect " + target_.host + ":" + target_.port + ": " + ec.message();
      socket_.set_option(tcp::no_delay(true), ec);
    }
    bhttp::request<bhttp::string_body> req{bhttp::verb::post, target, 11};
    req.set(bhttp::field::host, target_.host);
    req.set(bhttp::field::content_type, "application/json");
    req.set(bhttp::field::user_agent, "fleetpulse-simulate");
    if (!authorization.empty()) req.set(bhttp::field::authorization, authorization);
    req.keep_alive(true);
    req.body() = body;
    req.prepare_payload();
    const auto start = std::chrono::steady_clock::now();
    bhttp::write(socket_, req, ec);
    if (ec) return fail("write: " + ec.message());
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    bhttp::read(socket_, buffer_, parser, ec);
    if (ec) return fail("read: " + ec.message());
    answer.latency = std::chrono::steady_clock::now() - start;
    auto& res = parser.get();
    answer.status = static_cast<int>(res.result_int());
    answer.body = std::move(res.body());
    retry_after_s_ = 0;
    if (auto it = res.find(bhttp::field::retry_after); it != res.end()) {
      auto v = it->value();
      std::from_chars(v.data(), v.data() + v.size(), retry_after_s_);
    }
    if (!res.keep_alive()) close();
    return std::nullopt;
  }

  int retry_after_s() const { return retry_after_s_; }

 private:
  std::string fail(std::string what) {
    close();
    return what;
  }
  void close() {
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    buffer_.clear();
  }

  const HttpTarget& target_;
  asio::io_context io_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  int retry_after_s_ = 0;
};

}  // namespace

Result<HttpTarget> parse_http_target(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme)
    return Status::InvalidArgument(
        "--target must look like http://HOST:PORT or mqtt://HOST:PORT, got '" + std::string(url) +
        "'");
  std::string_view rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  HttpTarget t;
  if (slash != std::string_view::npos) {
    t.base_path = std::string(rest.substr(slash));
    while (!t.base_path.empty() && t.base_path.back() == '/') t.base_path.pop_back();
  }
  const size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos) {
    t.host = std::string(authority);
    t.port = "80";
  } else {
    t.host = std::string(authority.substr(0, colon));
    t.port = std::string(authority.substr(colon + 1));
  }
  if (t.host.size() >= 2 && t.host.front() == '[' && t.host.back() == ']')
    t.host = t.host.substr(1, t.host.size() - 2);
  int port = 0;
  auto [p, ec] = std::from_chars(t.port.data(), t.port.data() + t.port.size(), port);
  if (t.host.empty() || ec != std::errc() || p != t.port.data() + t.port.size() || port < 1 ||
      port > 65535)
    return Status::InvalidArgument("--target must look like http://HOST:PORT, got '" +
                                   std::string(url) + "'");
  return t;
}

HttpLoadClient::HttpLoadClient(HttpTarget target, std::string api_key, int connections,
                               size_t queue_capacity, int max_attempts)
    : target_(std::move(target)),
      authorization_(api_key.empty() ? "" : "Bearer " + api_key),
      queue_capacity_(std::max<size_t>(queue_capacity, 1)),
      max_attempts_(std::max(max_attempts, 1)) {
  for (int i = 0; i < std::max(connections, 1); ++i)
    workers_.emplace_back([this] { worker_loop(); });
}

HttpLoadClient::~HttpLoadClient() {
  drain();
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  can_pop_.notify_all();
  for (auto& t : workers_) t.join();
}

void HttpLoadClient::submit(HttpRequestSpec request) {
  std::unique_lock lock(mu_);
  can_push_.wait(lock, [this] { return queue_.size() < queue_capacity_; });
  queue_.push_back(std::move(request));
  lock.unlock();
  can_pop_.notify_one();
}

void HttpLoadClient::drain() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [this] { return queue_.empty() && busy_ == 0; });
}

size_t HttpLoadClient::in_flight() const {
  std::lock_guard lock(mu_);
  return queue_.size() + busy_;
}

void HttpLoadClient::worker_loop() {
  Connection conn(target_);
  for (;;) {
    HttpRequestSpec req;
    {
      std::unique_lock lock(mu_);
      can_pop_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping
      req = std::move(queue_.front());
      queue_.pop_front();
      ++busy_;
    }
    can_push_.notify_one();

    HttpAnswer answer;
    const std::string target = target_.base_path + req.path;
    for (int attempt = 1; attempt <= max_attempts_; ++attempt) {
      answer = HttpAnswer{};
      auto error = conn.exchange(target, req.body, authorization_, answer);
      const bool overloaded = !error && (answer.status == 429 || answer.status == 503);
      if (!error && !overloaded) break;
      if (error) answer.error = *error;
      if (attempt == max_attempts_) break;
      // Back off: what the server asked for, else 50 ms doubling per attempt.
      const int wait_ms = overloaded && conn.retry_after_s() > 0 ? conn.retry_after_s() * 1000
                                                                 : 50 << (attempt - 1);
      std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
    }
    if (req.on_answer) req.on_answer(answer);

    {
      std::lock_guard lock(mu_);
      --busy_;
      if (queue_.empty() && busy_ == 0) idle_.notify_all();
    }
  }
}

}  // namespace fp::sim
