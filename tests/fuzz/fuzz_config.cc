// Fuzzes the configuration loader with arbitrary TOML text.
#include <cstddef>
#include <cstdint>
#include <string>

#include "app/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto c = fp::build_server_config(
      {}, [](const std::string&) { return std::optional<std::string>(); }, text);
  (void)c;
  return 0;
}
