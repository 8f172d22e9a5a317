#include "cluster/applied_checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fp::cluster {
namespace {

constexpr std::string_view kHeader = "fleetpulse-applied v1 partitions=";

template <typename T>
bool ParseNumber(std::string_view s, T& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

Status WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::IoError(std::string("write checkpoint: ") + std::strerror(errno));
    off += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

std::string FormatCheckpoint(const AppliedCheckpoint& c) {
  std::string out(kHeader);
  out += std::to_string(c.partitions) + "\n";
  for (const auto& [p, seq] : c.applied)
    out += std::to_string(p) + " " + std::to_string(seq) + "\n";
  return out;
}

Result<AppliedCheckpoint> ParseCheckpoint(std::string_view text) {
  AppliedCheckpoint c;
  size_t nl = text.find('\n');
  if (nl == std::string_view::npos || text.substr(0, kHeader.size()) != kHeader)
    return Status::Malformed("checkpoint: no header");
  if (!ParseNumber(text.substr(kHeader.size(), nl - kHeader.size()), c.partitions) ||
      c.partitions == 0)
    return Status::Malformed("checkpoint: bad partition count");
  text.remove_prefix(nl + 1);
  while (!text.empty()) {
    nl = text.find('\n');
    if (nl == std::string_view::npos) return Status::Malformed("checkpoint: unterminated line");
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    size_t sp = line.find(' ');
    uint32_t p = 0;
    uint64_t seq = 0;
    if (sp == std::string_view::npos || !ParseNumber(line.substr(0, sp), p) ||
        !ParseNumber(line.substr(sp + 1), seq) || p >= c.partitions ||
        !c.applied.emplace(p, seq).second)
      return Status::Malformed("checkpoint: bad line");
  }
  return c;
}

Result<AppliedCheckpoint> LoadCheckpoint(const std::string& path, uint32_t partitions) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!std::filesystem::exists(path)) return AppliedCheckpoint{partitions, {}};
    return Status::IoError("cannot read " + path);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseCheckpoint(ss.str());
}

Status SaveCheckpoint(const std::string& path, const AppliedCheckpoint& c) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IoError("create " + tmp + ": " + std::strerror(errno));
  Status s = WriteAll(fd, FormatCheckpoint(c));
  if (s.ok() && ::fsync(fd) != 0)
    s = Status::IoError(std::string("fsync: ") + std::strerror(errno));
  ::close(fd);
  if (!s.ok()) return s;
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return Status::IoError("rename " + tmp + ": " + std::strerror(errno));
  const std::string dir = std::filesystem::path(path).parent_path().string();
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

}  // namespace fp::cluster
