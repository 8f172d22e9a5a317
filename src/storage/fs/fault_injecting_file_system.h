#pragma once
// FaultInjectingFileSystem: an in-memory FileSystem for tests that models what a power loss
// keeps, in the spirit of LevelDB's fault-injection Env.
//
// Model: a file is an inode (bytes plus how many of them are synced); a path names an inode.
// Besides the live namespace there is a durable one: sync_dir(d) copies the live entries of
// directory d into it. crash() replaces the live namespace by the durable one and cuts every
// inode back to its synced bytes (optionally keeping part of the unsynced tail, a torn write).
// Directories themselves are durable as soon as they are created. truncate() and emptying a
// file on open are durable at once (PosixFileSystem::truncate fsyncs; the WAL never relies on
// an emptied file staying empty across a crash).
//
// Faults: a byte budget after which appends fail with the "disk full" error; a torn next
// write; a machine stop after N more mutating operations; a flipped bit.
//
// Thread safety: every method may be called from any thread (one mutex).

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "storage/fs/file_system.h"

namespace fp {

class FaultInjectingFileSystem final : public FileSystem {
 public:
  // Chooses how many of a file's `unsynced` tail bytes survive a crash (clamped to unsynced).
  using KeepUnsynced = std::function<uint64_t(const std::string& path, uint64_t unsynced)>;

  FaultInjectingFileSystem() = default;
  FaultInjectingFileSystem(const FaultInjectingFileSystem&) = delete;
  FaultInjectingFileSystem& operator=(const FaultInjectingFileSystem&) = delete;

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

  // Power loss and restart: drops every byte not synced (except what `keep` chooses to keep)
  // and every directory change not made durable by sync_dir. Clears the stop, the torn write
  // and the space budget; handles opened before the crash fail from now on.
  void crash(const KeepUnsynced& keep = {});
  // The next append writes only its first `keep_bytes` bytes, which reach the disk (durable,
  // with every byte before them in that file), and then the machine stops (see stop_after).
  void tear_next_write(uint64_t keep_bytes);
  // After `operations` more mutating operations succeed (append, sync, sync_dir, open for
  // writing, remove, rename, truncate, create_dir) the machine stops: that operation and every
  // later one fail with kIoError until crash().
  void stop_after(uint64_t operations);
  // Appends may write only `bytes` more bytes in total, then fail with disk_full_error();
  // std::nullopt removes the limit (space came back).
  void set_space_left(std::optional<uint64_t> bytes);
  // Flips bit `bit` (0..7) of the byte at `offset`, synced or not. kNotFound/kInvalidArgument
  // when the file or offset does not exist.
  Status flip_bit(const std::string& path, uint64_t offset, int bit);

  // Creates (or replaces) a durable file holding `data`; creates its directory if needed.
  void put_file(const std::string& path, std::string data);
  // Synced bytes of a file (0 when absent).
  uint64_t synced_size(const std::string& path) const;
  // Number of successful WritableFile::sync and sync_dir calls so far.
  uint64_t sync_count() const;
  bool stopped() const;

 private:
  struct Inode {
    std::string data;
    uint64_t synced = 0;
  };
  class File;
  class Reader;

  // Consumes one mutating operation; an error once the machine has stopped. Needs mu_.
  Status begin_mutation(std::string_view op, std::string_view path);
  Status append_locked(const std::shared_ptr<Inode>& inode, uint64_t generation,
                       const std::string& path, std::string_view data);
  Status sync_locked(const std::shared_ptr<Inode>& inode, uint64_t generation,
                     const std::string& path);
  void create_dir_locked(const std::string& path);

  mutable std::mutex mu_;
  // Protected by mu_.
  std::set<std::string> dirs_;
  std::map<std::string, std::shared_ptr<Inode>> live_;
  std::map<std::string, std::shared_ptr<Inode>> durable_;
  uint64_t generation_ = 0;  // bumped by crash(); stale handles fail
  std::optional<uint64_t> ops_left_;
  std::optional<uint64_t> torn_keep_;
  std::optional<uint64_t> space_left_;
  bool stopped_ = false;
  uint64_t syncs_ = 0;
};

}  // namespace fp
