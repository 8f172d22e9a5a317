#include "storage/tsdb/store_files.h"

#include "storage/block/block_format.h"
#include "storage/codec/chunk_format.h"
#include "storage/wal/crc32c.h"

namespace fp::tsdb {
namespace {

constexpr char kCheckpointFile[] = "CHECKPOINT";
constexpr char kTombstonesFile[] = "TOMBSTONES";

std::string seal(std::string body) {
  block::put_fixed<uint32_t>(&body, crc32c(body));
  return body;
}

// The body of a sealed file, or kCorruption.
Result<std::string_view> unseal(std::string_view bytes, const std::string& what) {
  if (bytes.size() < 4 || crc32c(bytes.substr(0, bytes.size() - 4)) !=
                              block::get_fixed<uint32_t>(bytes.data() + bytes.size() - 4))
    return Status::Corruption(what + ": checksum mismatch");
  return bytes.substr(0, bytes.size() - 4);
}

}  // namespace

Status write_file_atomically(FileSystem& fs, const std::string& dir, const std::string& name,
                             std::string_view bytes) {
  const std::string tmp = join_path(dir, name + ".tmp");
  FP_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> f, fs.open_writable(tmp, false));
  FP_RETURN_IF_ERROR(f->append(bytes));
  FP_RETURN_IF_ERROR(f->sync());
  FP_RETURN_IF_ERROR(f->close());
  FP_RETURN_IF_ERROR(fs.rename(tmp, join_path(dir, name)));
  return fs.sync_dir(dir);
}

Result<Checkpoint> read_checkpoint(FileSystem& fs, const std::string& dir) {
  const std::string path = join_path(dir, kCheckpointFile);
  if (!fs.exists(path)) return Checkpoint{};
  FP_ASSIGN_OR_RETURN(std::string bytes, fs.read_file(path));
  FP_ASSIGN_OR_RETURN(std::string_view body, unseal(bytes, path));
  if (body.size() != 16) return Status::Corruption(path + ": bad size");
  return Checkpoint{block::get_fixed<uint64_t>(body.data()),
                    block::get_fixed<uint64_t>(body.data() + 8)};
}

Status write_checkpoint(FileSystem& fs, const std::string& dir, const Checkpoint& c) {
  std::string body;
  block::put_fixed<uint64_t>(&body, c.lsn);
  block::put_fixed<uint64_t>(&body, c.seq);
  return write_file_atomically(fs, dir, kCheckpointFile, seal(std::move(body)));
}

Result<Tombstones> read_tombstones(FileSystem& fs, const std::string& dir) {
  const std::string path = join_path(dir, kTombstonesFile);
  Tombstones out;
  if (!fs.exists(path)) return out;
  FP_ASSIGN_OR_RETURN(std::string bytes, fs.read_file(path));
  FP_ASSIGN_OR_RETURN(std::string_view body, unseal(bytes, path));
  const auto* p = reinterpret_cast<const uint8_t*>(body.data());
  const auto* end = p + body.size();
  while (p < end) {
    uint64_t len, seq;
    if (!codec::get_uvarint(&p, end, &len) || len > static_cast<uint64_t>(end - p))
      return Status::Corruption(path + ": truncated");
    std::string device(reinterpret_cast<const char*>(p), len);
    p += len;
    if (!codec::get_uvarint(&p, end, &seq)) return Status::Corruption(path + ": truncated");
    out[std::move(device)] = seq;
  }
  return out;
}

Status write_tombstones(FileSystem& fs, const std::string& dir, const Tombstones& t) {
  std::string body;
  for (const auto& [device, seq] : t) {
    codec::put_uvarint(&body, device.size());
    body.append(device);
    codec::put_uvarint(&body, seq);
  }
  return write_file_atomically(fs, dir, kTombstonesFile, seal(std::move(body)));
}

}  // namespace fp::tsdb
