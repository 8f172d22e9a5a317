#include "fleet_history/fleet_history.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fp {
namespace {

Status io_error(const std::string& what, const std::string& path) {
  return Status::IoError(what + " " + path + ": " + std::strerror(errno));
}

Status write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot write", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Status sync_dir_of(const std::string& path) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open directory of", path);
  const int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? Status::Ok() : io_error("cannot sync directory of", path);
}

}  // namespace

Result<std::unique_ptr<FleetHistory>> FleetHistory::open(std::string path, int64_t keep_ms,
                                                         int64_t now_ms) {
  std::unique_ptr<FleetHistory> h(new FleetHistory(std::move(path), keep_ms));
  std::error_code ec;
  if (std::filesystem::exists(h->path_, ec)) {
    std::ifstream in(h->path_, std::ios::binary);
    std::stringstream content;
    content << in.rdbuf();
    if (!in.good() && !in.eof()) return io_error("cannot read", h->path_);
    auto decoded = decode_fleet_history(content.str());
    if (decoded.ok()) {
      h->skipped_lines_ = decoded->skipped_lines;
      for (const FleetSample& s : decoded->samples)
        if (s.ts_ms > now_ms - keep_ms) h->samples_.push_back(s);
      std::stable_sort(h->samples_.begin(), h->samples_.end(),
                       [](const auto& a, const auto& b) { return a.ts_ms < b.ts_ms; });
    } else {
      const std::string aside = h->path_ + ".corrupt-" + std::to_string(now_ms);
      std::filesystem::rename(h->path_, aside, ec);
      if (ec) return Status::IoError("cannot set aside " + h->path_ + ": " + ec.message());
    }
  }
  // Always start from a clean file: drops torn tails and expired samples at once.
  if (Status s = h->rewrite(); !s.ok()) return s;
  return h;
}

FleetHistory::~FleetHistory() {
  if (fd_ >= 0) ::close(fd_);
}

Status FleetHistory::reopen_for_append() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  return fd_ >= 0 ? Status::Ok() : io_error("cannot open", path_);
}

Status FleetHistory::rewrite() {
  const std::string tmp = path_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("cannot create", tmp);
  std::string out(kFleetHistoryHeader);
  for (const FleetSample& s : samples_) out += encode_fleet_sample(s);
  Status st = write_all(fd, out, tmp);
  if (st.ok() && ::fsync(fd) != 0) st = io_error("cannot sync", tmp);
  ::close(fd);
  if (!st.ok()) return st;
  if (::rename(tmp.c_str(), path_.c_str()) != 0) return io_error("cannot rename", tmp);
  if (Status s = sync_dir_of(path_); !s.ok()) return s;
  lines_in_file_ = samples_.size();
  return reopen_for_append();
}

Status FleetHistory::append(const FleetSample& s) {
  std::lock_guard lock(mu_);
  if (fd_ < 0) return Status::Unavailable("the fleet history file is not open");
  // What is served must be what a restart reads back: the line's values (the rate is written
  // with 3 decimals), not the sample as measured.
  const std::string line = encode_fleet_sample(s);
  auto stored = decode_fleet_history(std::string(kFleetHistoryHeader) + line);
  if (!stored.ok() || stored->samples.size() != 1)
    return Status::Internal("a fleet sample does not read back from its own line");
  if (Status st = write_all(fd_, line, path_); !st.ok()) return st;
  if (::fdatasync(fd_) != 0) return io_error("cannot sync", path_);
  ++lines_in_file_;
  samples_.push_back(stored->samples[0]);
  while (!samples_.empty() && samples_.front().ts_ms <= s.ts_ms - keep_ms_) samples_.pop_front();
  if (lines_in_file_ > 2 * samples_.size() + 64) return rewrite();
  return Status::Ok();
}

std::vector<FleetSample> FleetHistory::range(int64_t from_ms, int64_t to_ms) const {
  std::lock_guard lock(mu_);
  std::vector<FleetSample> out;
  for (const FleetSample& s : samples_)
    if (s.ts_ms >= from_ms && s.ts_ms <= to_ms) out.push_back(s);
  return out;
}

}  // namespace fp
