// Fuzzes the KPI activity journal decoder (kpi/activity_record.h): any bytes give a valid
// prefix of records and a stop, never a crash or a read past the end; every record decoded
// encodes back to exactly the bytes it came from (the frames are canonical).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "kpi/activity_record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string again;
  const fp::ActivityDecodeResult r = fp::decode_activity_records(
      in, [&](const fp::ActivityRecord& rec) { fp::append_activity_record(rec, again); });
  if (r.valid_bytes > size) std::abort();
  if (r.clean != (r.valid_bytes == size)) std::abort();
  if (again != in.substr(0, r.valid_bytes)) std::abort();
  return 0;
}
