#pragma once
// Transport: one accepted socket, plain TCP or TLS, with the two asynchronous operations a
// connection needs. Internal to src/mqtt. Not thread-safe: use it on its connection's strand.
// The TLS stream (~400 bytes) lives on the heap, so a plain connection does not carry it.

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <memory>
#include <variant>

namespace fp::mqtt {

namespace net = boost::asio;
using tcp = net::ip::tcp;
// A connection's executor: its I/O thread's own io_context (one per thread, so the handlers of
// one connection never run concurrently, as on a strand, without a strand's ~110 bytes per
// connection). The name stays: "on its strand" means on this executor.
using Strand = net::io_context::executor_type;
using Socket = net::basic_stream_socket<tcp, Strand>;
using TlsStream = net::ssl::stream<Socket>;

class Transport {
 public:
  explicit Transport(Socket s) : s_(std::move(s)) {}
  Transport(Socket s, net::ssl::context& ctx)
      : s_(std::make_unique<TlsStream>(std::move(s), ctx)) {}

  bool is_tls() const { return std::holds_alternative<std::unique_ptr<TlsStream>>(s_); }
  Strand get_executor() { return lowest().get_executor(); }
  Socket& lowest() {
    if (auto* t = std::get_if<std::unique_ptr<TlsStream>>(&s_)) return (*t)->next_layer();
    return std::get<Socket>(s_);
  }

  template <typename Handler>
  void async_handshake(Handler&& h) {
    std::get<std::unique_ptr<TlsStream>>(s_)->async_handshake(net::ssl::stream_base::server,
                                                              std::forward<Handler>(h));
  }
  template <typename Buffer, typename Handler>
  void async_read_some(const Buffer& b, Handler&& h) {
    if (auto* t = std::get_if<std::unique_ptr<TlsStream>>(&s_))
      (*t)->async_read_some(b, std::forward<Handler>(h));
    else
      std::get<Socket>(s_).async_read_some(b, std::forward<Handler>(h));
  }
  template <typename Buffer, typename Handler>
  void async_write(const Buffer& b, Handler&& h) {
    if (auto* t = std::get_if<std::unique_ptr<TlsStream>>(&s_))
      net::async_write(**t, b, std::forward<Handler>(h));
    else
      net::async_write(std::get<Socket>(s_), b, std::forward<Handler>(h));
  }
  void close() {
    boost::system::error_code ec;
    lowest().shutdown(tcp::socket::shutdown_both, ec);
    lowest().close(ec);
  }

 private:
  std::variant<Socket, std::unique_ptr<TlsStream>> s_;
};

}  // namespace fp::mqtt
