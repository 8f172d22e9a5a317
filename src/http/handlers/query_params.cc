#include "http/handlers/query_params.h"

#include <charconv>

#include "model/time_format.h"

namespace fp::http {

Result<int> limit_param(const Request& req, int fallback, int max) {
  auto v = req.param("limit");
  if (!v) return fallback;
  int n;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || p != v->data() + v->size() || n < 1 || n > max)
    return Status::InvalidArgument("limit must be a whole number from 1 to " + std::to_string(max));
  return n;
}

Result<int64_t> time_param(const Request& req, std::string_view name, int64_t fallback,
                           int64_t now_ms) {
  auto v = req.param(name);
  if (!v) return fallback;
  auto t = parse_time_bound(*v, now_ms);
  if (!t)
    return Status::InvalidArgument(
        std::string(name) + " must be a time: now, -15m, -24h, RFC 3339 or epoch milliseconds");
  return *t;
}

Result<DeviceFilter> device_filter_param(const Request& req) {
  DeviceFilter f;
  if (auto s = req.param("status")) {
    f.status = parse_device_status(*s);
    if (!f.status)
      return Status::InvalidArgument("status must be online, at_risk, offline or unknown");
  }
  if (auto v = req.param("type")) f.type = std::string(*v);
  if (auto v = req.param("location")) f.location = std::string(*v);
  if (auto v = req.param("q"); v && !v->empty()) f.q = std::string(*v);
  if (auto v = req.param("sort")) {
    // "-battery_level" sorts descending.
    std::string_view key = *v;
    if (key.starts_with('-')) {
      f.descending = true;
      key.remove_prefix(1);
    }
    auto k = parse_device_sort_key(key);
    if (!k)
      return Status::InvalidArgument(
          "sort must be device_id, name, type, location, status, last_seen, battery_level or "
          "signal_strength (prefix - for descending)");
    f.sort = *k;
  }
  return f;
}

Result<bool> bool_param(const Request& req, std::string_view name, bool fallback) {
  auto v = req.param(name);
  if (!v) return fallback;
  if (*v == "true" || *v == "1" || *v == "yes") return true;
  if (*v == "false" || *v == "0" || *v == "no") return false;
  return Status::InvalidArgument(std::string(name) + " must be true or false");
}

}  // namespace fp::http
