#include "http/http_types.h"

#include "util/json_writer.h"

namespace fp::http {

std::string_view to_string(Method m) {
  switch (m) {
    case Method::kGet:
      return "GET";
    case Method::kHead:
      return "HEAD";
    case Method::kPost:
      return "POST";
    case Method::kPut:
      return "PUT";
    case Method::kPatch:
      return "PATCH";
    case Method::kDelete:
      return "DELETE";
    case Method::kOptions:
      return "OPTIONS";
    case Method::kOther:
      break;
  }
  return "OTHER";
}

Response error_response(int status, std::string_view code, std::string_view message,
                        std::string_view details_json) {
  JsonWriter w;
  w.begin_object().key("error").begin_object().field("code", code).field("message", message);
  if (!details_json.empty()) w.key("details").raw(details_json);
  w.end_object().end_object();
  Response r = Response::json(status, w.take());
  if (status == 429 || status == 503) r.headers.emplace_back("Retry-After", "1");
  return r;
}

Response error_response(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return error_response(500, "internal", "ok is not an error");
    case StatusCode::kMalformed:
      return error_response(400, "malformed_json", s.message());
    case StatusCode::kInvalidArgument:
      return error_response(400, "invalid_parameter", s.message());
    case StatusCode::kUnprocessable:
      return error_response(422, "validation_failed", s.message());
    case StatusCode::kNotFound:
      return error_response(404, "not_found", s.message());
    case StatusCode::kAlreadyExists:
      return error_response(409, "conflict", s.message());
    case StatusCode::kUnauthenticated:
      return error_response(401, "unauthorized", s.message());
    case StatusCode::kPermissionDenied:
      return error_response(403, "forbidden", s.message());
    case StatusCode::kTooLarge:
      return error_response(413, "payload_too_large", s.message());
    case StatusCode::kOverloaded:
      return error_response(429, "overloaded", s.message());
    case StatusCode::kUnavailable:
      return error_response(503, "unavailable", s.message());
    case StatusCode::kIoError:
      return error_response(503, "storage_error", s.message());
    case StatusCode::kCorruption:
      return error_response(500, "corruption", s.message());
    case StatusCode::kInternal:
      break;
  }
  return error_response(500, "internal", s.message());
}

namespace {

// InfluxDB 2.x error codes (influxdb/kit/platform/errors) by HTTP status.
std::string_view influx_v2_code(int status) {
  switch (status) {
    case 400:
      return "invalid";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not found";
    case 405:
      return "method not allowed";
    case 409:
      return "conflict";
    case 413:
      return "request too large";
    case 415:
      return "unsupported media type";
    case 422:
      return "unprocessable entity";
    case 429:
      return "too many requests";
    case 503:
      return "unavailable";
    default:
      return "internal error";
  }
}

}  // namespace

Response styled_error(ErrorStyle style, int status, std::string_view code,
                      std::string_view message) {
  if (style == ErrorStyle::kApi) return error_response(status, code, message);
  // InfluxDB 1.x answers overload with 503 (its write throttler), and Telegraf's influxdb
  // output drops a batch on any 4xx: a 429 there would lose data a 503 gets retried.
  if (style == ErrorStyle::kInfluxV1 && status == 429) status = 503;
  JsonWriter w;
  w.begin_object();
  if (style == ErrorStyle::kInfluxV2)
    w.field("code", influx_v2_code(status)).field("message", message);
  else
    w.field("error", message);
  w.end_object();
  Response r = Response::json(status, w.take());
  if (status == 429 || status == 503) r.headers.emplace_back("Retry-After", "1");
  return r;
}

}  // namespace fp::http
