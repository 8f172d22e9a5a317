// Fuzzes what `fleetpulse simulate` decodes from outside: a server's 422 answer (the
// "rejected" indexes) and the --target URL. Any bytes give a value or nullopt/an error.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "simulate/http_load_client.h"
#include "simulate/message_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto indexes = fp::sim::rejected_indexes(text);
  (void)indexes;
  auto target = fp::sim::parse_http_target(text);
  if (target.ok() && target->host.empty()) __builtin_trap();  // a parsed target names a host
  return 0;
}
