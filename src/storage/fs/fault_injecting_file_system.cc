#include "storage/fs/fault_injecting_file_system.h"

#include <algorithm>

namespace fp {
namespace {

// Drops trailing slashes (except for "/") so "a/b/" and "a/b" name the same entry.
std::string normalize(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return std::string(path);
}

std::string parent_of(const std::string& path) {
  size_t pos = path.rfind('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

Status stale_handle(std::string_view op, const std::string& path) {
  return Status::IoError(std::string(op) + " " + path + ": handle opened before a crash");
}

}  // namespace

// A writable handle: the inode it writes and the crash generation it was opened in.
class FaultInjectingFileSystem::File final : public WritableFile {
 public:
  File(FaultInjectingFileSystem* fs, std::shared_ptr<Inode> inode, uint64_t generation,
       std::string path)
      : fs_(fs), inode_(std::move(inode)), generation_(generation), path_(std::move(path)) {}

  Status append(std::string_view data) override {
    if (closed_) return Status::IoError("append " + path_ + ": file is closed");
    std::lock_guard<std::mutex> lock(fs_->mu_);
    return fs_->append_locked(inode_, generation_, path_, data);
  }
  Status sync() override {
    if (closed_) return Status::IoError("sync " + path_ + ": file is closed");
    std::lock_guard<std::mutex> lock(fs_->mu_);
    return fs_->sync_locked(inode_, generation_, path_);
  }
  Status close() override {
    closed_ = true;
    return Status::Ok();
  }
  uint64_t size() const override {
    std::lock_guard<std::mutex> lock(fs_->mu_);
    return inode_->data.size();
  }

 private:
  FaultInjectingFileSystem* fs_;
  std::shared_ptr<Inode> inode_;
  uint64_t generation_;
  std::string path_;
  bool closed_ = false;
};

// A reading handle over a snapshot-free view of the inode (reads see later appends).
class FaultInjectingFileSystem::Reader final : public SequentialFile {
 public:
  Reader(FaultInjectingFileSystem* fs, std::shared_ptr<Inode> inode)
      : fs_(fs), inode_(std::move(inode)) {}

  Result<size_t> read(char* dst, size_t n) override {
    std::lock_guard<std::mutex> lock(fs_->mu_);
    const std::string& data = inode_->data;
    if (pos_ >= data.size()) return size_t{0};
    size_t count = std::min<uint64_t>(n, data.size() - pos_);
    std::copy_n(data.data() + pos_, count, dst);
    pos_ += count;
    return count;
  }

 private:
  FaultInjectingFileSystem* fs_;
  std::shared_ptr<Inode> inode_;
  uint64_t pos_ = 0;
};

Status FaultInjectingFileSystem::begin_mutation(std::string_view op, std::string_view path) {
  if (!stopped_ && ops_left_) {
    if (*ops_left_ == 0) {
      stopped_ = true;
    } else {
      --*ops_left_;
    }
  }
  if (stopped_) {
    return Status::IoError(std::string(op) + " " + std::string(path) +
                           ": machine stopped (simulated power loss)");
  }
  return Status::Ok();
}

void FaultInjectingFileSystem::create_dir_locked(const std::string& path) {
  for (std::string p = path; dirs_.insert(p).second && p != "/" && p != ".";) p = parent_of(p);
}

Status FaultInjectingFileSystem::create_dir(const std::string& path) {
  std::string p = normalize(path);
  std::lock_guard<std::mutex> lock(mu_);
  FP_RETURN_IF_ERROR(begin_mutation("mkdir", p));
  if (live_.count(p) != 0) return Status::IoError("mkdir " + p + ": not a directory");
  create_dir_locked(p);
  return Status::Ok();
}

Result<std::vector<std::string>> FaultInjectingFileSystem::list_dir(const std::string& path) {
  std::string dir = normalize(path);
  std::lock_guard<std::mutex> lock(mu_);
  if (dirs_.count(dir) == 0) return Status::NotFound("opendir " + dir + ": no such directory");
  std::vector<std::string> names;
  for (const auto& [p, inode] : live_) {
    if (parent_of(p) == dir) names.push_back(p.substr(p.rfind('/') + 1));
  }
  for (const std::string& d : dirs_) {
    if (d != dir && parent_of(d) == dir) names.push_back(d.substr(d.rfind('/') + 1));
  }
  return names;
}

bool FaultInjectingFileSystem::exists(const std::string& path) {
  std::string p = normalize(path);
  std::lock_guard<std::mutex> lock(mu_);
  return live_.count(p) != 0 || dirs_.count(p) != 0;
}

Result<uint64_t> FaultInjectingFileSystem::file_size(const std::string& path) {
  std::string p = normalize(path);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(p);
  if (it == live_.end()) return Status::NotFound("stat " + p + ": no such file");
  return static_cast<uint64_t>(it->second->data.size());
}

Status FaultInjectingFileSystem::remove_file(const std::string& path) {
  std::string p = normalize(path);
  std::lock_guard<std::mutex> lock(mu_);
  FP_RETURN_IF_ERROR(begin_mutation("unlink", p));
  if (live_.erase(p) == 0) return Status::NotFound("unlink " + p + ": no such file");
  return Status::Ok();
}

Status FaultInjectingFileSystem::rename(const std::string& from, const std::string& to) {
  std::string f = normalize(from);
  std::string t = normalize(to);
  std::lock_guard<std::mutex> lock(mu_);
  FP_RETURN_IF_ERROR(begin_mutation("rename", f));
  auto it = live_.find(f);
  if (it == live_.end()) return Status::NotFound("rename " + f + ": no such file");
  if (dirs_.count(parent_of(t)) == 0)
    return Status::NotFound("rename " + t + ": no such directory");
  std::shared_ptr<Inode> inode = it->second;
  live_.erase(it);
  live_[t] = std::move(inode);
  return Status::Ok();
}

Status FaultInjectingFileSystem::sync_dir(const std::string& path) {
  std::string dir = normalize(path);
  std::lock_guard<std::mutex> lock(mu_);
  FP_RETURN_IF_ERROR(begin_mutation("fsync", dir));
  if (dirs_.count(dir) == 0) return Status::NotFound("open " + dir + ": no such directory");
  std::erase_if(durable_, [&](const auto& entry) { return parent_of(entry.first) == dir; });
  for (const auto& [p, inode] : live_) {
    if (parent_of(p) == dir) durable_[p] = inode;
  }
  ++syncs_;
  return Status::Ok();
}

Status FaultInjectingFileSystem::truncate(const std::string& path, uint64_t size) {
  std::string p = normalize(path);
  std::lock_guard<std::mutex> lock(mu_);
  FP_RETURN_IF_ERROR(begin_mutation("ftruncate", p));
  auto it = live_.find(p);
  if (it == live_.end()) return Status::NotFound("open " + p + ": no such file");
  it->second->data.resize(size);
  it->second->synced = size;
  return Status::Ok();
}

Result<std::unique_ptr<WritableFile>> FaultInjectingFileSystem::open_writable(
    const std::string& path, bool append) {
  std::string p = normalize(path);
  std::lock_guard<std::mutex> lock(mu_);
  FP_RETURN_IF_ERROR(begin_mutation("open", p));
  if (dirs_.count(parent_of(p)) == 0) return Status::NotFound("open " + p + ": no such directory");
  if (dirs_.count(p) != 0) return Status::IoError("open " + p + ": is a directory");
  std::shared_ptr<Inode>& inode = live_[p];
  if (!inode) inode = std::make_shared<Inode>();
  if (!append) {
    inode->data.clear();
    inode->synced = 0;
  }
  return std::unique_ptr<WritableFile>(std::make_unique<File>(this, inode, generation_, p));
}

Result<std::unique_ptr<SequentialFile>> FaultInjectingFileSystem::open_sequential(
    const std::string& path) {
  std::string p = normalize(path);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(p);
  if (it == live_.end()) return Status::NotFound("open " + p + ": no such file");
  return std::unique_ptr<SequentialFile>(std::make_unique<Reader>(this, it->second));
}

Status FaultInjectingFileSystem::append_locked(const std::shared_ptr<Inode>& inode,
                                               uint64_t generation, const std::string& path,
                                               std::string_view data) {
  if (generation != generation_) return stale_handle("write", path);
  FP_RETURN_IF_ERROR(begin_mutation("write", path));
  if (torn_keep_) {
    // Part of the write reaches the platter, then the power goes.
    size_t keep = std::min<uint64_t>(*torn_keep_, data.size());
    torn_keep_.reset();
    inode->data.append(data.substr(0, keep));
    inode->synced = inode->data.size();
    stopped_ = true;
    return Status::IoError("write " + path + ": torn write (simulated power loss)");
  }
  if (space_left_ && *space_left_ < data.size()) {
    inode->data.append(data.substr(0, *space_left_));
    space_left_ = 0;
    return disk_full_error("write", path);
  }
  if (space_left_) *space_left_ -= data.size();
  inode->data.append(data);
  return Status::Ok();
}

Status FaultInjectingFileSystem::sync_locked(const std::shared_ptr<Inode>& inode,
                                             uint64_t generation, const std::string& path) {
  if (generation != generation_) return stale_handle("fdatasync", path);
  FP_RETURN_IF_ERROR(begin_mutation("fdatasync", path));
  inode->synced = inode->data.size();
  ++syncs_;
  return Status::Ok();
}

void FaultInjectingFileSystem::crash(const KeepUnsynced& keep) {
  std::lock_guard<std::mutex> lock(mu_);
  live_ = durable_;
  std::set<Inode*> seen;
  for (const auto& [p, inode] : live_) {
    if (!seen.insert(inode.get()).second) continue;
    uint64_t unsynced = inode->data.size() - std::min<uint64_t>(inode->synced, inode->data.size());
    uint64_t kept = keep ? std::min(keep(p, unsynced), unsynced) : 0;
    inode->data.resize(inode->data.size() - unsynced + kept);
    inode->synced = inode->data.size();
  }
  ++generation_;
  ops_left_.reset();
  torn_keep_.reset();
  space_left_.reset();
  stopped_ = false;
}

void FaultInjectingFileSystem::tear_next_write(uint64_t keep_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  torn_keep_ = keep_bytes;
}

void FaultInjectingFileSystem::stop_after(uint64_t operations) {
  std::lock_guard<std::mutex> lock(mu_);
  ops_left_ = operations;
}

void FaultInjectingFileSystem::set_space_left(std::optional<uint64_t> bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  space_left_ = bytes;
}

Status FaultInjectingFileSystem::flip_bit(const std::string& path, uint64_t offset, int bit) {
  std::string p = normalize(path);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(p);
  if (it == live_.end()) return Status::NotFound("flip_bit " + p + ": no such file");
  if (offset >= it->second->data.size() || bit < 0 || bit > 7) {
    return Status::InvalidArgument("flip_bit " + p + ": offset or bit out of range");
  }
  it->second->data[offset] = static_cast<char>(it->second->data[offset] ^ (1 << bit));
  return Status::Ok();
}

void FaultInjectingFileSystem::put_file(const std::string& path, std::string data) {
  std::string p = normalize(path);
  std::lock_guard<std::mutex> lock(mu_);
  create_dir_locked(parent_of(p));
  auto inode = std::make_shared<Inode>();
  inode->data = std::move(data);
  inode->synced = inode->data.size();
  live_[p] = inode;
  durable_[p] = inode;
}

uint64_t FaultInjectingFileSystem::synced_size(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(normalize(path));
  return it == live_.end() ? 0 : std::min<uint64_t>(it->second->synced, it->second->data.size());
}

uint64_t FaultInjectingFileSystem::sync_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return syncs_;
}

bool FaultInjectingFileSystem::stopped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopped_;
}

}  // namespace fp
