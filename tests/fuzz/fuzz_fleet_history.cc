// Fuzzes the fleet history file decoder: any bytes give samples or a corruption error, never a
// crash; every sample it accepts encodes and decodes to itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fleet_history/fleet_history_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view content(reinterpret_cast<const char*>(data), size);
  const std::string with_header = std::string(fp::kFleetHistoryHeader) + std::string(content);
  for (const std::string_view input : {content, std::string_view(with_header)}) {
    auto d = fp::decode_fleet_history(input);
    if (!d.ok()) {
      if (d.status().code() != fp::StatusCode::kCorruption) std::abort();
      continue;
    }
    for (const fp::FleetSample& s : d->samples) {
      auto again = fp::decode_fleet_history(std::string(fp::kFleetHistoryHeader) +
                                            fp::encode_fleet_sample(s));
      if (!again.ok() || again->samples.size() != 1 || again->skipped_lines != 0) std::abort();
    }
  }
  return 0;
}
