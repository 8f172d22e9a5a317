#pragma once
// How an export writes to a StreamSink without dropping data: it hands the sink chunks of
// about kExportChunkBytes and waits while more than kExportHighWater bytes are queued, instead
// of overrunning the sink's queue limit (which would close the stream). Used by the
// single-node export and the gathered cluster export alike.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>
#include <thread>

#include "http/http_types.h"

namespace fp::http {

inline constexpr size_t kExportChunkBytes = 256 * 1024;
inline constexpr size_t kExportHighWater = 2 * 1024 * 1024;

// Writes `data` once at most kExportHighWater bytes wait in `sink`; false (nothing written)
// when the stream closed or `stop` was set meanwhile.
inline bool write_paced(StreamSink& sink, std::string data, const std::atomic<bool>& stop) {
  while (sink.is_open() && !stop && sink.queued_bytes() > kExportHighWater)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  if (!sink.is_open() || stop) return false;
  sink.write(std::move(data));
  return true;
}

}  // namespace fp::http
