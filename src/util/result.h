#pragma once
// Status and Result<T>: the way expected failures (bad input, I/O, corruption, not found)
// travel between modules. Exceptions are not used across module boundaries.

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace fp {

enum class StatusCode {
  kOk,
  kMalformed,         // input that does not parse, e.g. broken JSON (HTTP 400)
  kInvalidArgument,   // a bad parameter (HTTP 400)
  kUnprocessable,     // well-formed but invalid content (HTTP 422)
  kNotFound,          // HTTP 404
  kAlreadyExists,     // HTTP 409
  kUnauthenticated,   // HTTP 401
  kPermissionDenied,  // HTTP 403
  kTooLarge,          // HTTP 413
  kOverloaded,        // HTTP 429/503
  kUnavailable,       // HTTP 503
  kIoError,
  kCorruption,
  kInternal,
};

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  static Status Malformed(std::string m) { return {StatusCode::kMalformed, std::move(m)}; }
  static Status InvalidArgument(std::string m) {
    return {StatusCode::kInvalidArgument, std::move(m)};
  }
  static Status Unprocessable(std::string m) { return {StatusCode::kUnprocessable, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status IoError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
  static Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Holds either a value or a non-ok Status.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) { assert(!std::get<Status>(v_).ok()); }  // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace fp

#define FP_CONCAT_INNER(a, b) a##b
#define FP_CONCAT(a, b) FP_CONCAT_INNER(a, b)
// Evaluates a Result<T> expression; returns its Status from the enclosing function when it
// failed, else moves the value into `lhs` (a declaration or an lvalue). Expands to several
// statements: put it in braces under an if.
#define FP_ASSIGN_OR_RETURN(lhs, expr)                                                        \
  auto FP_CONCAT(fp_result_, __LINE__) = (expr);                                              \
  if (!FP_CONCAT(fp_result_, __LINE__).ok()) return FP_CONCAT(fp_result_, __LINE__).status(); \
  lhs = std::move(*FP_CONCAT(fp_result_, __LINE__))
#define FP_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::fp::Status fp_status_ = (expr);        \
    if (!fp_status_.ok()) return fp_status_; \
  } while (0)
