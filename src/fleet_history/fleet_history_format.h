#pragma once
// The on-disk form of the fleet history (docs/formats/fleet-history.md): a header line, then
// one line per sample with an FNV-1a checksum, so a line torn by a crash is recognised.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace fp {

// The fleet at one moment.
struct FleetSample {
  int64_t ts_ms = 0;
  double ingest_per_s = 0;  // heartbeats and points committed per second
  int64_t online = 0;
  int64_t at_risk = 0;
  int64_t offline = 0;
  int64_t unknown = 0;
  int64_t open_alerts = 0;

  friend bool operator==(const FleetSample&, const FleetSample&) = default;
};

inline constexpr std::string_view kFleetHistoryHeader = "fleetpulse-fleet-history v1\n";

// One sample as a complete line (ending in '\n').
std::string encode_fleet_sample(const FleetSample& s);

struct DecodedFleetHistory {
  std::vector<FleetSample> samples;  // in file order
  size_t skipped_lines = 0;          // torn, corrupt or unparsable lines
};

// Reads a whole file's content. kCorruption when the header is missing or of another version
// (an empty input is an empty history); bad lines are skipped and counted, never fatal.
Result<DecodedFleetHistory> decode_fleet_history(std::string_view content);

}  // namespace fp
