#include "storage/fs/posix_file_system.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <system_error>

namespace fp {
namespace {

Status errno_status(std::string_view op, std::string_view path, int err) {
  if (err == ENOSPC || err == EDQUOT) return disk_full_error(op, path);
  std::string m(op);
  m.append(" ").append(path).append(": ").append(std::generic_category().message(err));
  if (err == ENOENT) return Status::NotFound(std::move(m));
  return Status::IoError(std::move(m));
}

// Closes `fd` on scope exit.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  ~FdCloser() { ::close(fd_); }

 private:
  int fd_;
};

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  PosixWritableFile(const PosixWritableFile&) = delete;
  PosixWritableFile& operator=(const PosixWritableFile&) = delete;
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status append(std::string_view data) override {
    if (fd_ < 0) return Status::IoError("append " + path_ + ": file is closed");
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_status("write", path_, errno);
      }
      size_ += static_cast<uint64_t>(n);
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::Ok();
  }

  Status sync() override {
    if (fd_ < 0) return Status::IoError("sync " + path_ + ": file is closed");
    if (::fdatasync(fd_) != 0) return errno_status("fdatasync", path_, errno);
    return Status::Ok();
  }

  Status close() override {
    if (fd_ < 0) return Status::Ok();
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return errno_status("close", path_, errno);
    return Status::Ok();
  }

  uint64_t size() const override { return size_; }

 private:
  std::string path_;
  int fd_;
  uint64_t size_;
};

class PosixSequentialFile final : public SequentialFile {
 public:
  PosixSequentialFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixSequentialFile() override { ::close(fd_); }
  PosixSequentialFile(const PosixSequentialFile&) = delete;
  PosixSequentialFile& operator=(const PosixSequentialFile&) = delete;

  Result<size_t> read(char* dst, size_t n) override {
    for (;;) {
      ssize_t r = ::read(fd_, dst, n);
      if (r >= 0) return static_cast<size_t>(r);
      if (errno != EINTR) return errno_status("read", path_, errno);
    }
  }

 private:
  std::string path_;
  int fd_;
};

class MmapFile final : public MappedFile {
 public:
  MmapFile(void* addr, size_t size) : addr_(addr), size_(size) {}
  MmapFile(const MmapFile&) = delete;
  MmapFile& operator=(const MmapFile&) = delete;
  ~MmapFile() override {
    if (size_ > 0) ::munmap(addr_, size_);
  }
  std::string_view bytes() const override {
    return size_ ? std::string_view(static_cast<const char*>(addr_), size_) : std::string_view{};
  }
  // A read-only MAP_SHARED file mapping: MADV_DONTNEED only unmaps the pages (no data is
  // discarded); a failure leaves them resident, which is harmless.
  void release_resident() const override {
    if (size_ > 0) (void)::madvise(addr_, size_, MADV_DONTNEED);
  }

 private:
  void* addr_;
  size_t size_;
};

}  // namespace

PosixFileSystem& PosixFileSystem::instance() {
  static PosixFileSystem fs;
  return fs;
}

Status PosixFileSystem::create_dir(const std::string& path) {
  if (path.empty()) return Status::InvalidArgument("create_dir: empty path");
  // Create each missing ancestor in turn, like `mkdir -p`.
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    std::string prefix = path.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0755) == 0 || errno == EEXIST) continue;
    return errno_status("mkdir", prefix, errno);
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return errno_status("stat", path, errno);
  if (!S_ISDIR(st.st_mode)) return Status::IoError("mkdir " + path + ": not a directory");
  return Status::Ok();
}

Result<std::vector<std::string>> PosixFileSystem::list_dir(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return errno_status("opendir", path, errno);
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view name(e->d_name);
    if (name != "." && name != "..") names.emplace_back(name);
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return errno_status("readdir", path, err);
  return names;
}

bool PosixFileSystem::exists(const std::string& path) {
  return ::access(path.c_str(), F_OK) == 0;
}

Result<uint64_t> PosixFileSystem::file_size(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return errno_status("stat", path, errno);
  return static_cast<uint64_t>(st.st_size);
}

Status PosixFileSystem::remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return errno_status("unlink", path, errno);
  return Status::Ok();
}

Status PosixFileSystem::rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return errno_status("rename", from, errno);
  return Status::Ok();
}

Status PosixFileSystem::sync_dir(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_status("open", path, errno);
  FdCloser closer(fd);
  if (::fsync(fd) != 0) return errno_status("fsync", path, errno);
  return Status::Ok();
}

Status PosixFileSystem::truncate(const std::string& path, uint64_t size) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno_status("open", path, errno);
  FdCloser closer(fd);
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) return errno_status("ftruncate", path, errno);
  if (::fsync(fd) != 0) return errno_status("fsync", path, errno);
  return Status::Ok();
}

Result<std::unique_ptr<WritableFile>> PosixFileSystem::open_writable(const std::string& path,
                                                                     bool append) {
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
  int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) return errno_status("open", path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return errno_status("fstat", path, err);
  }
  return std::unique_ptr<WritableFile>(
      std::make_unique<PosixWritableFile>(path, fd, static_cast<uint64_t>(st.st_size)));
}

Result<std::unique_ptr<SequentialFile>> PosixFileSystem::open_sequential(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status("open", path, errno);
  return std::unique_ptr<SequentialFile>(std::make_unique<PosixSequentialFile>(path, fd));
}

Result<std::shared_ptr<const MappedFile>> PosixFileSystem::map_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status("open", path, errno);
  FdCloser closer(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return errno_status("stat", path, errno);
  const auto size = static_cast<size_t>(st.st_size);
  void* addr = nullptr;
  if (size > 0) {
    addr = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (addr == MAP_FAILED) return errno_status("mmap", path, errno);
  }
  return std::shared_ptr<const MappedFile>(std::make_shared<MmapFile>(addr, size));
}

}  // namespace fp
