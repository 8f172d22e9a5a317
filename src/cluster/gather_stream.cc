#include "cluster/gather_stream.h"

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>

namespace fp::cluster {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;

}  // namespace

struct OwnerStream::Impl {
  boost::asio::io_context io;
  beast::tcp_stream stream{io};
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::buffer_body> parser;
  std::array<char, 64 * 1024> chunk{};
  bool pending = false;  // an async read is outstanding
  bool completed = false;
  beast::error_code ec;
  bool done = false;
  bool failed = false;

  // Runs `io` until the outstanding operation completes or `wait_ms` passes.
  bool RunFor(int64_t wait_ms) {
    io.restart();
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
    while (!completed && std::chrono::steady_clock::now() < until) {
      if (io.run_one_until(until) == 0) break;
    }
    return completed;
  }
};

OwnerStream::OwnerStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

OwnerStream::~OwnerStream() {
  if (!impl_) return;
  beast::error_code ignored;
  impl_->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  impl_->stream.socket().close(ignored);
  impl_->io.restart();
  impl_->io.poll();  // completes the cancelled operation before the buffers go
}

std::unique_ptr<OwnerStream> OwnerStream::Open(const std::string& host, const std::string& port,
                                               const OwnerRequest& req, int64_t timeout_ms,
                                               std::string& error) {
  auto impl = std::make_unique<Impl>();
  Impl& s = *impl;
  std::unique_ptr<OwnerStream> out(new OwnerStream(std::move(impl)));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto left = [&deadline] {
    return std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now())
                                    .count());
  };
  tcp::resolver resolver(s.io);
  beast::error_code ec;
  auto endpoints = resolver.resolve(host, port, ec);
  if (ec) {
    error = "the owner's address does not resolve: " + ec.message();
    return nullptr;
  }
  s.completed = false;
  s.stream.async_connect(endpoints, [&s](beast::error_code e, const tcp::endpoint&) {
    s.ec = e;
    s.completed = true;
  });
  if (!s.RunFor(left()) || s.ec) {
    error = s.completed ? "the owner does not answer: " + s.ec.message()
                        : std::string("the owner does not answer: connect timed out");
    return nullptr;
  }
  bhttp::request<bhttp::string_body> r{bhttp::string_to_verb(req.method), req.target, 11};
  r.set(bhttp::field::host, host + ":" + port);
  if (!req.authorization.empty()) r.set(bhttp::field::authorization, req.authorization);
  if (!req.cookie.empty()) r.set(bhttp::field::cookie, req.cookie);
  r.prepare_payload();
  s.completed = false;
  bhttp::async_write(s.stream, r, [&s](beast::error_code e, size_t) {
    s.ec = e;
    s.completed = true;
  });
  if (!s.RunFor(left()) || s.ec) {
    error = "sending to the owner failed";
    return nullptr;
  }
  s.parser.body_limit(boost::none);
  s.completed = false;
  bhttp::async_read_header(s.stream, s.buffer, s.parser, [&s](beast::error_code e, size_t) {
    s.ec = e;
    s.completed = true;
  });
  if (!s.RunFor(left()) || s.ec) {
    error = "the owner did not answer in time";
    return nullptr;
  }
  return out;
}

int OwnerStream::status() const {
  return static_cast<int>(impl_->parser.get().result_int());
}

std::string OwnerStream::header(std::string_view name) const {
  const auto& h = impl_->parser.get();
  auto it = h.find(beast::string_view(name.data(), name.size()));
  return it == h.end() ? std::string() : std::string(it->value());
}

OwnerStream::ReadResult OwnerStream::Read(std::string& out, int64_t wait_ms) {
  Impl& s = *impl_;
  if (s.failed) return ReadResult::kError;
  if (!s.pending) {
    if (s.done || s.parser.is_done()) {
      s.done = true;
      return ReadResult::kEnd;
    }
    s.parser.get().body().data = s.chunk.data();
    s.parser.get().body().size = s.chunk.size();
    s.pending = true;
    s.completed = false;
    bhttp::async_read_some(s.stream, s.buffer, s.parser, [&s](beast::error_code e, size_t) {
      s.ec = e;
      s.completed = true;
    });
  }
  if (!s.RunFor(wait_ms)) return ReadResult::kTimeout;
  s.pending = false;
  if (s.ec == bhttp::error::need_buffer) s.ec = {};
  if (s.ec) {
    s.failed = true;
    return ReadResult::kError;
  }
  const size_t n = s.chunk.size() - s.parser.get().body().size;
  out.append(s.chunk.data(), n);
  if (s.parser.is_done()) s.done = true;
  if (n > 0) return ReadResult::kData;
  return s.done ? ReadResult::kEnd : ReadResult::kData;
}

std::string OwnerStream::ReadAll(int64_t timeout_ms) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    const int64_t left = std::chrono::duration_cast<std::chrono::milliseconds>(
                             deadline - std::chrono::steady_clock::now())
                             .count();
    const ReadResult r = Read(out, std::max<int64_t>(1, left));
    if (r != ReadResult::kData) break;
  }
  return out;
}

}  // namespace fp::cluster
