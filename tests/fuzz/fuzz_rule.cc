// Fuzzes the alert rule decoder: any bytes give a rule or an error naming fields, never a
// crash; a rule that parses survives its canonical JSON unchanged (round trip).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "alerting/rule.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  std::vector<fp::FieldError> errors;
  auto r = fp::parse_rule(body, {}, &errors);
  if (!r.ok()) {
    if (r.status().code() == fp::StatusCode::kUnprocessable && errors.empty() &&
        r.status().message().find("object") == std::string::npos)
      std::abort();  // a 422 must say which field is wrong
    return 0;
  }
  const std::string json = fp::rule_to_json(*r);
  auto again = fp::parse_rule(json, {});
  if (!again.ok() || fp::rule_to_json(*again) != json) std::abort();
  return 0;
}
