#include "app/data_dir_hygiene.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <filesystem>
#include <system_error>

namespace fp {

unsigned restrict_new_file_permissions() {
  return static_cast<unsigned>(::umask(077));
}

std::string data_dir_permission_warning(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return {};
  const unsigned mode = st.st_mode & 0777;
  if ((mode & 077) == 0) return {};
  return fmt::format(
      "data directory {} has mode {:04o}: its group or other users can reach the catalog (key "
      "hashes, device tokens) and telemetry; run chmod 700 on it (new files are created 0600)",
      dir, mode);
}

std::vector<std::string> remove_stale_temporary_files(const std::string& dir) {
  std::vector<std::string> removed;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() <= 4 || !name.ends_with(".tmp")) continue;
    std::error_code type_ec;
    if (!entry.is_regular_file(type_ec)) continue;
    std::error_code rm_ec;
    if (std::filesystem::remove(entry.path(), rm_ec)) removed.push_back(name);
  }
  return removed;
}

}  // namespace fp
