#pragma once
// A minimal blocking HTTP/1.1 client for webhook deliveries: POST a JSON body to an http://
// URL and report the status or the failure. Boost.Beast stays inside webhook_client.cc.

#include <chrono>
#include <string>
#include <string_view>

namespace fp {

struct PostResult {
  int status = 0;     // HTTP status, 0 when no answer was received
  std::string error;  // connection / timeout / protocol problem, empty otherwise
  bool ok() const { return error.empty() && status >= 200 && status < 300; }
  std::string describe() const;  // "HTTP 500" or the error
};

// Sends `body` with Content-Type application/json. The whole exchange (resolve, connect,
// write, read) is bounded by `timeout`. Thread-safe; blocks the calling thread.
PostResult post_json(std::string_view url, std::string_view body,
                     std::chrono::milliseconds timeout);

}  // namespace fp
