#pragma once
// Typed access to query parameters; failures are kInvalidArgument naming the parameter
// (answered as 400 invalid_parameter).

#include <cstdint>
#include <optional>
#include <string_view>

#include "http/http_types.h"
#include "storage/catalog/catalog.h"
#include "util/result.h"

namespace fp::http {

// `limit`: a whole number in 1..max, or `fallback` when absent.
Result<int> limit_param(const Request& req, int fallback, int max);
// A time bound (`now`, `-15m`, RFC 3339, epoch ms), or `fallback` when absent.
Result<int64_t> time_param(const Request& req, std::string_view name, int64_t fallback,
                           int64_t now_ms);
// The device-list filters `status`, `type`, `location`, `q`, and the order `sort`
// (a column name, with a leading `-` for descending).
Result<DeviceFilter> device_filter_param(const Request& req);

// `true`/`false`/`1`/`0`, or `fallback` when absent.
Result<bool> bool_param(const Request& req, std::string_view name, bool fallback);

}  // namespace fp::http
