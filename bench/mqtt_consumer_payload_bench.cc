// Consumer telemetry payloads: the feed's JsonWriter + format_rfc3339 (before) against
// TelemetryPayloadWriter (src/live), 200 devices x 7 points per batch, 2,000 batches, one
// second per batch. `cmake --preset bench && cmake --build --preset bench --target
// bench_consumer_payload`, then run build/bench/bench/bench_consumer_payload.
#include <chrono>
#include <cstdio>
#include <vector>

#include "live/telemetry_payload.h"
#include "model/time_format.h"
#include "util/json_writer.h"
using namespace fp;
int main() {
  const int kDevices = 200, kPoints = 7, kRounds = 2000;
  size_t sink = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < kRounds; ++r)
    for (int d = 0; d < kDevices; ++d) {
      JsonWriter w;
      w.begin_object()
          .field("device_id", "device-" + std::to_string(d))
          .key("points")
          .begin_array();
      for (int i = 0; i < kPoints; ++i) {
        w.begin_object().field("metric", "temperature");
        w.field("ts", format_rfc3339(1765000000000 + r * 1000 + i))
            .field("value", 21.5 + i * 0.37 + d)
            .end_object();
      }
      w.end_array().end_object();
      sink += w.str().size();
    }
  auto t1 = std::chrono::steady_clock::now();
  for (int r = 0; r < kRounds; ++r) {
    TelemetryPayloadWriter tw;
    for (int d = 0; d < kDevices; ++d) {
      std::string out;
      tw.begin(out, "device-" + std::to_string(d));
      for (int i = 0; i < kPoints; ++i)
        tw.add_point(out, "temperature", 1765000000000 + r * 1000 + i, 21.5 + i * 0.37 + d);
      tw.end(out);
      sink += out.size();
    }
  }
  auto t2 = std::chrono::steady_clock::now();
  double n = double(kRounds) * kDevices;
  std::printf(
      "JsonWriter+format_rfc3339: %.0f ns/payload; TelemetryPayloadWriter: %.0f ns/payload (%zu)\n",
      std::chrono::duration<double, std::nano>(t1 - t0).count() / n,
      std::chrono::duration<double, std::nano>(t2 - t1).count() / n, sink);
}
