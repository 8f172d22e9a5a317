#pragma once
// What the decoder tests look at: a decoded ReadingBatch and its item errors, flattened
// into comparable values. Shared by the line-protocol and telemetry-JSON tests.

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "ingest/item_error.h"
#include "model/reading_batch.h"

namespace fp {

inline constexpr int64_t kNow = 1'767'225'600'000;  // 2026-01-01T00:00:00Z

// A point with its names resolved.
struct P {
  std::string device;
  std::string metric;
  int64_t ts;
  double value;
  bool operator==(const P&) const = default;
};

inline void PrintTo(const P& p, std::ostream* os) {
  *os << "{" << p.device << ", " << p.metric << ", " << p.ts << ", " << p.value << "}";
}

struct DecodedBatch {
  ReadingBatch batch;
  std::vector<ItemError> errors;

  std::vector<P> points() const {
    std::vector<P> v;
    for (const Point& p : batch.points())
      v.push_back({batch.devices()[p.device], batch.metrics()[p.metric], p.ts_ms, p.value});
    return v;
  }
  std::vector<double> values() const {
    std::vector<double> v;
    for (const Point& p : batch.points()) v.push_back(p.value);
    return v;
  }
  // key -> value of the device's attributes (the last one wins).
  std::map<std::string, std::string> attributes(const std::string& device) const {
    std::map<std::string, std::string> m;
    for (const Attribute& a : batch.attributes())
      if (batch.devices()[a.device] == device) m[a.key] = a.value;
    return m;
  }
  std::vector<size_t> error_indexes() const {
    std::vector<size_t> v;
    for (const ItemError& e : errors) v.push_back(e.index);
    return v;
  }
  std::string first_error() const { return errors.empty() ? "" : errors.front().message; }
};

}  // namespace fp
