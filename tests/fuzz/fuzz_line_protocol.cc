// Fuzzes the line protocol decoder: any bytes must decode without a crash, and whatever comes
// out must hold the batch's invariants: valid device ids and metric names, indexes in range,
// times within 1970..2262, valid UTF-8 everywhere (names, attributes, error messages), error
// lines in order and inside the body.
#include <simdjson.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ingest/line_protocol.h"
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

void run(std::string_view body, const fp::LineProtocolOptions& opt) {
  fp::ReadingBatch batch;
  std::vector<fp::ItemError> errors;
  size_t lines = 0;
  fp::decode_line_protocol(body, opt, kNow, batch, errors, &lines);

  const size_t physical_lines = static_cast<size_t>(std::count(body.begin(), body.end(), '\n')) + 1;
  check(lines <= physical_lines);
  check(errors.size() <= lines);
  for (size_t i = 0; i < errors.size(); ++i) {
    check(errors[i].index < physical_lines);
    check(i == 0 || errors[i - 1].index < errors[i].index);
    check(!errors[i].message.empty() && utf8(errors[i].message));
  }
  for (const std::string& d : batch.devices()) check(fp::validate_device_id(d).empty());
  for (const std::string& m : batch.metrics())
    check(fp::validate_metric_name(m).empty() && utf8(m));
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
  fp::LineProtocolOptions other;
  other.precision = fp::Precision::kSeconds;
  other.prefix_measurement = false;
  other.tags_as_attributes = false;
  other.device_tags = {"d", "name"};
  run(body, other);
  return 0;
}
