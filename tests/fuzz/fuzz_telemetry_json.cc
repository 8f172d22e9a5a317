// Fuzzes the telemetry JSON decoder: any bytes must give a status or a batch without a crash,
// and the batch must hold its invariants: valid device ids and metric names, indexes in range,
// times within 1970..2262, valid UTF-8 in attributes and error messages, error indexes in order.
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ingest/telemetry_json.h"
#include "model/device.h"

namespace {

constexpr int64_t kNow = 1'767'225'600'000;
constexpr int64_t kMaxMs = INT64_MAX / 1'000'000;

void check(bool ok) {
  if (!ok) std::abort();
}

bool utf8(std::string_view s) {
  return simdjson::validate_utf8(s.data(), s.size());
}

void run(std::string_view body, const fp::TelemetryJsonOptions& opt) {
  fp::ReadingBatch batch;
  std::vector<fp::ItemError> errors;
  size_t items = 0;
  const fp::Status st = fp::decode_telemetry_json(body, opt, kNow, batch, errors, &items);
  if (!st.ok()) {
    check(batch.empty() && errors.empty());
    check(st.code() == fp::StatusCode::kMalformed || st.code() == fp::StatusCode::kUnprocessable);
    return;
  }
  check(items <= fp::kMaxTelemetryItems && errors.size() <= items);
  for (size_t i = 0; i < errors.size(); ++i) {
    check(errors[i].index < items);
    check(i == 0 || errors[i - 1].index < errors[i].index);
    check(!errors[i].message.empty() && utf8(errors[i].message));
  }
  for (const std::string& d : batch.devices()) {
    check(fp::validate_device_id(d).empty());
    check(opt.path_device_id.empty() || d == opt.path_device_id);
  }
  for (const std::string& m : batch.metrics()) check(fp::validate_metric_name(m).empty());
  for (const fp::Point& p : batch.points()) {
    check(p.device < batch.devices().size() && p.metric < batch.metrics().size());
    check(p.ts_ms >= 0 && p.ts_ms <= kMaxMs);
    check(p.value == p.value);  // not NaN
  }
  for (const fp::Attribute& a : batch.attributes()) {
    check(a.device < batch.devices().size());
    check(utf8(a.key) && utf8(a.value));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  run(body, {});
  fp::TelemetryJsonOptions other;
  other.precision = fp::Precision::kNanos;
  other.path_device_id = "dev-1";
  run(body, other);
  return 0;
}
