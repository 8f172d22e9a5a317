// Fuzzes the session-assertion parser (src/cluster/session_assertion.h): the bearer token an
// owner receives with a forwarded dashboard write. Any bytes are refused or verified, never a
// crash; a token made from what verified verifies again to the same assertion.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cluster/session_assertion.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr std::string_view kSecret = "fuzz-secret";
  constexpr int64_t kNow = 1'800'000'000'000;
  std::string_view token(reinterpret_cast<const char*>(data), size);
  auto a = fp::cluster::VerifySessionAssertion(kSecret, token, "POST", "/p", kNow);
  // Also the structural checks behind a matching mac: sign the fuzzed fields and verify.
  const size_t dot = token.rfind('.');
  if (dot != std::string_view::npos) {
    auto b = fp::cluster::VerifySessionAssertion("", token.substr(0, dot), "POST", "/p", kNow);
    if (b.ok()) std::abort();  // an empty secret verifies nothing
  }
  if (!a.ok()) return 0;
  const std::string again = fp::cluster::MakeSessionAssertion(kSecret, *a, "POST", "/p");
  auto c = fp::cluster::VerifySessionAssertion(kSecret, again, "POST", "/p", kNow);
  if (!c.ok() || c->key_id != a->key_id || c->role != a->role) std::abort();
  return 0;
}
