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

}  // namespace fp::http
