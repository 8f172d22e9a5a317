// Fuzzes the line protocol decoder: any bytes must decode without a crash, and whatever comes
// out must hold the batch's invariants: valid device ids and metric names, indexes in range,
// times within 1970..2262, points without a timestamp stamped each on a millisecond of its own,
// valid UTF-8 everywhere (names, attributes, error messages), error lines in order and inside the
// body.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "batch_invariants.h"
#include "ingest/line_protocol.h"
#include "stamping_invariants.h"

namespace {

using fp::fuzz::check;

void run(std::string_view body, const fp::LineProtocolOptions& opt) {
  fp::ReadingBatch batch;
  std::vector<fp::ItemError> errors;
  size_t lines = 0;
  fp::decode_line_protocol(body, opt, fp::fuzz::kNow, batch, errors, &lines);

  const size_t physical_lines = static_cast<size_t>(std::count(body.begin(), body.end(), '\n')) + 1;
  check(lines <= physical_lines);
  check(errors.size() <= lines);
  fp::fuzz::check_errors(errors, physical_lines);
  fp::fuzz::check_batch(batch);
  fp::fuzz::check_stamping(batch);
}

// With small cardinality limits: whatever the input, a batch never holds more distinct metric
// names than the request limit nor more series of a device than the device limit.
void run_limited(std::string_view body, fp::LineProtocolOptions limited) {
  fp::tsdb::SeriesIndex index;
  index.get_or_create("dev-1", "known");
  fp::CardinalityLimits limits({2, 0, 3, 0});
  limits.set_index(&index);
  fp::SeriesAdmission admission(limits, fp::fuzz::kNow);
  limited.admission = &admission;
  fp::ReadingBatch batch;
  std::vector<fp::ItemError> errors;
  (void)fp::decode_line_protocol(body, limited, fp::fuzz::kNow, batch, errors);
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
  fp::LineProtocolOptions other;
  other.precision = fp::Precision::kSeconds;
  other.prefix_measurement = false;
  other.tags_as_attributes = false;
  other.device_tags = {"d", "name"};
  run(body, other);
  run_limited(body, {});
  return 0;
}
