#pragma once
// Disk figures for the data directory: bytes the server's files use, and the file system's
// free and total space.

#include <cstdint>
#include <string>

namespace fp::http {

struct DiskUsage {
  uint64_t data_bytes = 0;  // allocated bytes of every file under the data dir
  uint64_t free_bytes = 0;  // available to the server
  uint64_t total_bytes = 0;
  bool ok = false;
};

DiskUsage disk_usage(const std::string& data_dir);

// When free space is critical: below min(percent of the volume, bytes), so that a small
// volume is not always "critical" and a large one is not warned about 100 MiB too late.
struct DiskThreshold {
  double percent = 5;
  uint64_t bytes = 1ull << 30;
  uint64_t critical_below(uint64_t total_bytes) const {
    const auto relative = static_cast<uint64_t>(static_cast<double>(total_bytes) * percent / 100);
    return relative < bytes ? relative : bytes;
  }
};

}  // namespace fp::http
