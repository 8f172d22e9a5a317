#pragma once
// OwnerHttp: one blocking HTTP/1.1 request from this node to another node's --advertise URL
// (Boost.Beast client), used to forward a device's read to its owner and to gather fleet
// reads. The client's Authorization and Cookie headers go along, so the receiving node
// authenticates the original caller. Bounded by `timeout_ms` from connect to the last byte.
//
// Thread safety: free functions, no shared state.

#include <cstdint>
#include <string>

#include "http/http_types.h"

namespace fp::cluster {

// http://host:port -> (host, port); false for anything else (https is not forwarded yet).
bool SplitAdvertiseUrl(const std::string& url, std::string& host, std::string& port);

struct OwnerRequest {
  std::string method = "GET";
  std::string target;  // path and query
  std::string authorization;
  std::string cookie;
  std::string content_type;
  std::string body;
};

struct OwnerReply {
  bool answered = false;  // false: no connection, or no complete answer within the timeout
  std::string error;      // why not answered
  http::Response response;
};

OwnerReply CallOwner(const std::string& host, const std::string& port, const OwnerRequest& req,
                     int64_t timeout_ms);

// 503 + Retry-After: 1 in the API's error shape.
http::Response Unavailable(const std::string& message);

}  // namespace fp::cluster
