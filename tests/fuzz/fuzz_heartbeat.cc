// Fuzzes the heartbeat decoder: any bytes must give a report or an error, never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ingest/heartbeat.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto r = fp::decode_heartbeat(body, {}, 1'767'225'600'000);
  (void)r;
  auto p = fp::decode_heartbeat(body, "dev-1", 1'767'225'600'000);
  (void)p;
  return 0;
}
