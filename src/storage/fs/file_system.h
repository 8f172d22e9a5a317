#pragma once
// FileSystem: the few file operations the storage engine needs, behind an interface so tests
// can inject lost fsyncs, torn writes, bit flips and full disks (see
// fault_injecting_file_system.h). PosixFileSystem is the real one.
//
// Durability contract (what every implementation promises and the WAL relies on):
// - bytes appended to a WritableFile are durable only after its sync() returned ok;
// - a created, renamed or removed directory entry is durable only after sync_dir() of its
//   directory returned ok;
// - truncate() returns only once the new length is durable.
//
// Thread safety: a FileSystem may be used from any thread. A WritableFile or SequentialFile
// must be used by one thread at a time.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace fp {

// A file open for appending. Closed (without sync) by the destructor.
class WritableFile {
 public:
  virtual ~WritableFile() = default;

  // Appends `data` at the end of the file. On failure a prefix of `data` may have been
  // written; a full disk gives kIoError with "disk full" in the message.
  virtual Status append(std::string_view data) = 0;
  // Makes every byte appended so far durable (fdatasync).
  virtual Status sync() = 0;
  // Closes the file; further calls fail. Does not sync.
  virtual Status close() = 0;
  // Bytes in the file: its size when opened plus what append() wrote since.
  virtual uint64_t size() const = 0;
};

// A whole file's bytes, readable for as long as the object lives (mmap in PosixFileSystem).
class MappedFile {
 public:
  virtual ~MappedFile() = default;
  virtual std::string_view bytes() const = 0;
  // Drops this process' resident copy of the bytes: for a file mapping, its page table entries
  // (the page cache keeps the pages; the next read faults them back in, unchanged). Any thread,
  // also while others read. Nothing to drop for bytes held in memory (the default).
  virtual void release_resident() const {}
};

// Bytes already in memory, seen as a MappedFile (tests, fuzzers, the read_file fallback).
std::shared_ptr<const MappedFile> bytes_as_mapped_file(std::string bytes);

// A file open for reading from the start to the end.
class SequentialFile {
 public:
  virtual ~SequentialFile() = default;

  // Reads up to `n` bytes into `dst`; returns how many were read, 0 at the end of the file.
  virtual Result<size_t> read(char* dst, size_t n) = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // Creates `path` and any missing parents; ok if it already is a directory.
  virtual Status create_dir(const std::string& path) = 0;
  // Names (not paths) of the entries in directory `path`, in no particular order, without
  // "." and "..". kNotFound if the directory does not exist.
  virtual Result<std::vector<std::string>> list_dir(const std::string& path) = 0;
  virtual bool exists(const std::string& path) = 0;
  // kNotFound if the file does not exist.
  virtual Result<uint64_t> file_size(const std::string& path) = 0;
  // kNotFound if the file does not exist.
  virtual Status remove_file(const std::string& path) = 0;
  // Atomically replaces `to` (if present) by `from`.
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  // Makes the entries of directory `path` (creations, renames, removals) durable.
  virtual Status sync_dir(const std::string& path) = 0;
  // Cuts (or zero-extends) the file to `size` bytes and makes the new length durable.
  virtual Status truncate(const std::string& path, uint64_t size) = 0;
  // Opens `path` for writing, creating it if needed. With `append` writes go after the
  // existing bytes; without, the file is emptied first.
  virtual Result<std::unique_ptr<WritableFile>> open_writable(const std::string& path,
                                                              bool append) = 0;
  // Opens an existing file for reading; kNotFound if it does not exist.
  virtual Result<std::unique_ptr<SequentialFile>> open_sequential(const std::string& path) = 0;

  // The whole content of a file (for small files; segment readers use open_sequential).
  Result<std::string> read_file(const std::string& path);
  // The file's bytes without copying them where the implementation can (PosixFileSystem maps
  // the file); this default reads it into memory. The file must not change while mapped.
  virtual Result<std::shared_ptr<const MappedFile>> map_file(const std::string& path);
};

// `dir` + "/" + `name`, without doubling a trailing slash.
std::string join_path(std::string_view dir, std::string_view name);

// The kIoError every implementation returns when the device has no space left: the message
// says "disk full" so an operator recognises it in a log line or an HTTP error body.
Status disk_full_error(std::string_view op, std::string_view path);

}  // namespace fp
