#pragma once
// The InfluxDB line protocol decoder: POST /write and /api/v1/write bodies (Telegraf and
// friends).
//
//   measurement[,tag=value...] field=value[,field=value...] [timestamp]
//
// Supported as InfluxDB does: escaped ',', ' ' and '=' (and "\\" for a backslash) in
// measurements, tag keys, tag values and field keys (a backslash before any other character is
// kept literally, as InfluxDB and Telegraf's "\n" output expect); fields that are floats
// (1, -1.5, 1e3), integers (1i), unsigned integers (1u), booleans (t, T, true, True, TRUE,
// f, F, false, False, FALSE) or strings ("..." with \" and \\ escapes, newlines allowed);
// an optional integer timestamp in `precision`; '#' comment lines, blank lines and CRLF.
//
// Mapping: the device is the value of the first tag of `device_tags` (in that order of
// preference) the line carries. Each numeric or boolean field is a point of the metric
// "measurement.field" ("field" without `prefix_measurement`); a string field is a device
// attribute under the same name. With `tags_as_attributes`, the line's other tags are kept as
// attributes "tag.<key>", emitted when a device's tag set differs from its previous line's in
// the same body (so a batch of 5000 lines of one truck stores its tags once, not 5000 times);
// consumers persisting attributes should still skip values equal to what they hold.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/cardinality_limits.h"
#include "ingest/item_error.h"
#include "model/reading_batch.h"
#include "model/time_format.h"

namespace fp {

struct LineProtocolOptions {
  Precision precision = Precision::kNanos;  // InfluxDB's default; ?precision=ns|us|ms|s
  std::vector<std::string> device_tags = {"device_id", "host", "name"};
  bool prefix_measurement = true;  // metric "measurement.field", else "field"
  bool tags_as_attributes = true;  // other tags -> attributes "tag.<key>" (see above)
  // The cardinality limits of the request (null: none). Each valid line is admitted just
  // before it is added; one it refuses is an item error naming the limit.
  SeriesAdmission* admission = nullptr;
};

// Decodes `body` and appends every valid line to `out`. A line that is malformed, has no
// device tag, no fields, an invalid metric name or device id, invalid UTF-8, a string field or
// attribute tag longer than kMaxAttributeValueBytes, or a timestamp
// outside 1970-01-01 .. 2262-04-11 adds nothing and is reported in `errors` with its 0-based
// line number (of its first line, when a string field spans lines); other lines still count.
// A line without a timestamp adds its points unstamped at `now_ms`
// (ReadingBatch::add_unstamped): the commit path gives each its own server timestamp. Keeps no
// state between calls: concurrent calls on different batches are safe. `*lines`, when given, is set
// to the number of data lines (neither blank nor comments): accepted = lines - errors.size().
void decode_line_protocol(std::string_view body, const LineProtocolOptions& opt, int64_t now_ms,
                          ReadingBatch& out, std::vector<ItemError>& errors,
                          size_t* lines = nullptr);

}  // namespace fp
