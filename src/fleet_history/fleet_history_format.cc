#include "fleet_history/fleet_history_format.h"

#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <cmath>
#include <cstdio>

namespace fp {
namespace {

// Rates are written with 3 decimals; anything above this is not a real rate.
constexpr double kMaxRate = 1e12;

uint32_t fnv1a(std::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

template <typename T>
bool parse_field(std::string_view& rest, T& out) {
  const size_t space = rest.find(' ');
  const std::string_view tok = rest.substr(0, space);
  if (tok.empty()) return false;
  auto [end, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), out);
  if (ec != std::errc() || end != tok.data() + tok.size()) return false;
  rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
  return true;
}

bool parse_line(std::string_view line, FleetSample& s) {
  // "<fields> <checksum of fields, 8 hex digits>"
  const size_t last = line.rfind(' ');
  if (last == std::string_view::npos || line.size() - last - 1 != 8) return false;
  const std::string_view body = line.substr(0, last);
  uint32_t sum = 0;
  const std::string_view hex = line.substr(last + 1);
  auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), sum, 16);
  if (ec != std::errc() || end != hex.data() + hex.size() || sum != fnv1a(body)) return false;
  std::string_view rest = body;
  return parse_field(rest, s.ts_ms) && parse_field(rest, s.ingest_per_s) &&
         parse_field(rest, s.online) && parse_field(rest, s.at_risk) &&
         parse_field(rest, s.offline) && parse_field(rest, s.unknown) &&
         parse_field(rest, s.open_alerts) && rest.empty() && std::isfinite(s.ingest_per_s) &&
         s.ingest_per_s >= 0 && s.ingest_per_s <= kMaxRate;
}

}  // namespace

std::string encode_fleet_sample(const FleetSample& s) {
  const double rate = std::isfinite(s.ingest_per_s) && s.ingest_per_s > 0
                          ? std::min(s.ingest_per_s, kMaxRate)
                          : 0.0;
  char body[160];  // 7 numbers of at most 20 characters each (the rate is capped)
  const int n =
      std::snprintf(body, sizeof body,
                    "%" PRId64 " %.3f %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64,
                    s.ts_ms, rate, s.online, s.at_risk, s.offline, s.unknown, s.open_alerts);
  const std::string_view fields(body, static_cast<size_t>(n));
  char sum[16];
  std::snprintf(sum, sizeof sum, " %08x\n", fnv1a(fields));
  return std::string(fields) + sum;
}

Result<DecodedFleetHistory> decode_fleet_history(std::string_view content) {
  DecodedFleetHistory out;
  if (content.empty()) return out;
  if (!content.starts_with(kFleetHistoryHeader))
    return Status::Corruption("not a fleet history file of version 1");
  content.remove_prefix(kFleetHistoryHeader.size());
  while (!content.empty()) {
    const size_t nl = content.find('\n');
    if (nl == std::string_view::npos) {  // a last line without its newline: torn
      ++out.skipped_lines;
      break;
    }
    FleetSample s;
    if (parse_line(content.substr(0, nl), s))
      out.samples.push_back(s);
    else
      ++out.skipped_lines;
    content.remove_prefix(nl + 1);
  }
  return out;
}

}  // namespace fp
