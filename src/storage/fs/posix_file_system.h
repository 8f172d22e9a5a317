#pragma once
// PosixFileSystem: FileSystem on the real file system through POSIX calls. Failures carry
// the operation, the path and the errno text; ENOENT becomes kNotFound and ENOSPC the
// "disk full" kIoError of disk_full_error(). Stateless and thread-safe.

#include "storage/fs/file_system.h"

namespace fp {

class PosixFileSystem final : public FileSystem {
 public:
  // The process-wide instance.
  static PosixFileSystem& instance();

  Status create_dir(const std::string& path) override;
  Result<std::vector<std::string>> list_dir(const std::string& path) override;
  bool exists(const std::string& path) override;
  Result<uint64_t> file_size(const std::string& path) override;
  Status remove_file(const std::string& path) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status sync_dir(const std::string& path) override;
  Status truncate(const std::string& path, uint64_t size) override;
  Result<std::unique_ptr<WritableFile>> open_writable(const std::string& path,
                                                      bool append) override;
  Result<std::unique_ptr<SequentialFile>> open_sequential(const std::string& path) override;
  Result<std::shared_ptr<const MappedFile>> map_file(const std::string& path) override;
};

}  // namespace fp
