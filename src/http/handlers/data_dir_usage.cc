#include "http/handlers/data_dir_usage.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <filesystem>

namespace fp::http {

DiskUsage disk_usage(const std::string& data_dir) {
  DiskUsage u;
  struct statvfs vfs {};
  if (statvfs(data_dir.c_str(), &vfs) != 0) return u;
  u.free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  u.total_bytes = static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(data_dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st {};
    if (it->is_regular_file(ec) && ::stat(it->path().c_str(), &st) == 0)
      u.data_bytes += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  u.ok = true;
  return u;
}

}  // namespace fp::http
