// Fuzzes the telemetry JSON decoder: any bytes must give a status or a batch without a crash,
// and the batch must hold its invariants: valid device ids and metric names, indexes in range,
// times within 1970..2262, points without a timestamp stamped each on a millisecond of its own,
// valid UTF-8 in attributes and error messages, error indexes in order.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "batch_invariants.h"
#include "ingest/telemetry_json.h"
#include "stamping_invariants.h"

namespace {

using fp::fuzz::check;

void run(std::string_view body, const fp::TelemetryJsonOptions& opt) {
  fp::ReadingBatch batch;
  std::vector<fp::ItemError> errors;
  size_t items = 0;
  const fp::Status st = fp::decode_telemetry_json(body, opt, fp::fuzz::kNow, batch, errors, &items);
  if (!st.ok()) {
    check(batch.empty() && errors.empty());
    check(st.code() == fp::StatusCode::kMalformed || st.code() == fp::StatusCode::kUnprocessable);
    return;
  }
  check(items <= fp::kMaxTelemetryItems && errors.size() <= items);
  fp::fuzz::check_errors(errors, items);
  fp::fuzz::check_batch(batch);
  for (const std::string& d : batch.devices())
    check(opt.path_device_id.empty() || d == opt.path_device_id);
  fp::fuzz::check_stamping(batch);
}

// With small cardinality limits: whatever the input, a batch never holds more distinct metric
// names than the request limit nor more series of a device than the device limit.
void run_limited(std::string_view body, fp::TelemetryJsonOptions limited) {
  fp::tsdb::SeriesIndex index;
  index.get_or_create("dev-1", "known");
  fp::CardinalityLimits limits({2, 0, 3, 0});
  limits.set_index(&index);
  fp::SeriesAdmission admission(limits, fp::fuzz::kNow);
  limited.admission = &admission;
  fp::ReadingBatch batch;
  std::vector<fp::ItemError> errors;
  (void)fp::decode_telemetry_json(body, limited, fp::fuzz::kNow, batch, errors);
  check(batch.metrics().size() <= 3);
  std::vector<std::vector<bool>> seen(batch.devices().size(),
                                      std::vector<bool>(batch.metrics().size()));
  std::vector<size_t> per_device(batch.devices().size());
  for (const fp::Point& p : batch.points())
    if (!seen[p.device][p.metric]) {
      seen[p.device][p.metric] = true;
      if (!index.find(batch.devices()[p.device], batch.metrics()[p.metric])) ++per_device[p.device];
    }
  for (size_t n : per_device) check(n <= 2);
  check(limits.reserved() <= 2 * batch.devices().size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  run(body, {});
  fp::TelemetryJsonOptions other;
  other.precision = fp::Precision::kNanos;
  other.path_device_id = "dev-1";
  run(body, other);
  run_limited(body, {});
  return 0;
}
