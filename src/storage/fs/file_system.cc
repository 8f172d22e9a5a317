#include "storage/fs/file_system.h"

namespace fp {

Result<std::string> FileSystem::read_file(const std::string& path) {
  FP_ASSIGN_OR_RETURN(std::unique_ptr<SequentialFile> file, open_sequential(path));
  std::string out;
  constexpr size_t kChunk = size_t{64} * 1024;
  for (;;) {
    size_t old_size = out.size();
    out.resize(old_size + kChunk);
    Result<size_t> n = file->read(out.data() + old_size, kChunk);
    if (!n.ok()) return n.status();
    out.resize(old_size + *n);
    if (*n == 0) return out;
  }
}

namespace {

class StringFile final : public MappedFile {
 public:
  explicit StringFile(std::string bytes) : bytes_(std::move(bytes)) {}
  std::string_view bytes() const override { return bytes_; }

 private:
  std::string bytes_;
};

}  // namespace

std::shared_ptr<const MappedFile> bytes_as_mapped_file(std::string bytes) {
  return std::make_shared<StringFile>(std::move(bytes));
}

Result<std::shared_ptr<const MappedFile>> FileSystem::map_file(const std::string& path) {
  FP_ASSIGN_OR_RETURN(std::string bytes, read_file(path));
  return bytes_as_mapped_file(std::move(bytes));
}

std::string join_path(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (!out.empty() && out.back() != '/') out.push_back('/');
  out.append(name);
  return out;
}

Status disk_full_error(std::string_view op, std::string_view path) {
  std::string m = "disk full: no space left on device (";
  m.append(op).append(" ").append(path).append(")");
  return Status::IoError(std::move(m));
}

}  // namespace fp
