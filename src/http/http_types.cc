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

}  // namespace fp::http
