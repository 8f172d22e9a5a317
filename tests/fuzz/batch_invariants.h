#pragma once
// Invariants every decoder output must hold, checked by the decoder fuzz targets: a
// violation aborts, which libFuzzer reports as a crash with the input that caused it.

#include <simdjson.h>

#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "ingest/item_error.h"
#include "model/device.h"
#include "model/reading_batch.h"
#include "model/time_format.h"

namespace fp::fuzz {

inline constexpr int64_t kNow = 1'767'225'600'000;

inline void check(bool ok) {
  if (!ok) std::abort();
}

inline bool utf8(std::string_view s) {
  return simdjson::validate_utf8(s.data(), s.size());
}

// Item errors: indexes below `index_limit` and strictly increasing, messages non-empty UTF-8.
inline void check_errors(const std::vector<ItemError>& errors, size_t index_limit) {
  for (size_t i = 0; i < errors.size(); ++i) {
    check(errors[i].index < index_limit);
    check(i == 0 || errors[i - 1].index < errors[i].index);
    check(!errors[i].message.empty() && utf8(errors[i].message));
  }
}

// The batch: valid device ids and metric names, indexes in range, times in
// [0, kMaxEpochMs], no NaN, UTF-8 names and attributes.
inline void check_batch(const ReadingBatch& batch) {
  for (const std::string& d : batch.devices()) check(validate_device_id(d).empty());
  for (const std::string& m : batch.metrics()) check(validate_metric_name(m).empty() && utf8(m));
  for (const Point& p : batch.points()) {
    check(p.device < batch.devices().size() && p.metric < batch.metrics().size());
    check(p.ts_ms >= 0 && p.ts_ms <= kMaxEpochMs);
    check(p.value == p.value);  // not NaN
  }
  for (const Attribute& a : batch.attributes()) {
    check(a.device < batch.devices().size());
    check(utf8(a.key) && utf8(a.value));
  }
  // Points without a device timestamp: listed once, in order, and waiting at the receive time.
  for (size_t i = 0; i < batch.unstamped().size(); ++i) {
    const uint32_t p = batch.unstamped()[i];
    check(p < batch.points().size());
    check(i == 0 || batch.unstamped()[i - 1] < p);
    check(batch.points()[p].ts_ms == kNow);
  }
}

}  // namespace fp::fuzz
