#include "storage/block/block_writer.h"

#include <zstd.h>

#include <cstring>

#include "storage/block/block_frame.h"
#include "storage/codec/chunk_format.h"
#include "storage/wal/crc32c.h"

namespace fp::block {
namespace {

constexpr size_t kBufferBytes = size_t{1} << 20;

// The open group (format version 2, block_frame.h) lives in the writer's own strings: its
// payloads at the tail of `buffer` (from `group_start` = its file offset - bytes already in the
// file), and in `index` the number of groups closed (u64), of series in the open group (u64),
// then their descriptions (put_series). Closing the group puts its frame in front of its
// payloads. The buffer is only flushed between groups.
constexpr size_t kGroupsAt = 0, kOpenAt = 8, kSeriesAt = 16;

uint64_t field(const std::string& index, size_t at) {
  return get_fixed<uint64_t>(index.data() + at);
}
void set_field(std::string& index, size_t at, uint64_t v) {
  std::memcpy(index.data() + at, &v, sizeof v);
}

void close_group(std::string& buffer, std::string& index, uint64_t group_start) {
  const uint64_t n = field(index, kOpenAt);
  if (n == 0) return;
  std::string frame;
  put_frame(&frame, group_body(n, std::string_view(index).substr(kSeriesAt)));
  buffer.insert(group_start, frame);
  set_field(index, kGroupsAt, field(index, kGroupsAt) + 1);
  set_field(index, kOpenAt, 0);
  index.resize(kSeriesAt);
}

}  // namespace

bool compress_if_pays(std::string_view raw, std::string* out) {
  if (raw.size() < 64) return false;
  // One context and buffer per thread: creating a context per call costs more than
  // compressing a typical chunk.
  struct Ctx {
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    std::string buffer;
    ~Ctx() { ZSTD_freeCCtx(cctx); }
  };
  thread_local Ctx ctx;
  const size_t bound = ZSTD_compressBound(raw.size());
  if (ctx.buffer.size() < bound) ctx.buffer.resize(bound);
  const size_t n = ZSTD_compressCCtx(ctx.cctx, ctx.buffer.data(), bound, raw.data(), raw.size(), 1);
  if (ZSTD_isError(n) || n > raw.size() - raw.size() / 10) return false;
  out->assign(ctx.buffer.data(), n);
  return true;
}

Result<std::unique_ptr<BlockWriter>> BlockWriter::create(FileSystem& fs, std::string dir,
                                                         std::string file_name, BlockMeta meta) {
  FP_RETURN_IF_ERROR(fs.create_dir(dir));
  FP_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                      fs.open_writable(join_path(dir, file_name + ".tmp"), false));
  return std::unique_ptr<BlockWriter>(
      new BlockWriter(fs, std::move(dir), std::move(file_name), std::move(meta), std::move(file)));
}

BlockWriter::BlockWriter(FileSystem& fs, std::string dir, std::string file_name, BlockMeta meta,
                         std::unique_ptr<WritableFile> file)
    : fs_(fs),
      dir_(std::move(dir)),
      name_(std::move(file_name)),
      meta_(std::move(meta)),
      file_(std::move(file)) {
  put_header_v2(&buffer_, meta_);  // format version 2 (block_frame.h)
  offset_ = buffer_.size();        // where the open group starts
  index_.assign(kSeriesAt, '\0');
}

BlockWriter::~BlockWriter() {
  if (finished_) return;
  // Abandoned: the temporary file must not be mistaken for a block.
  if (file_) (void)file_->close();
  (void)fs_.remove_file(join_path(dir_, name_ + ".tmp"));
}

Status BlockWriter::flush_buffer() {
  if (buffer_.empty()) return Status::Ok();
  Status s = file_->append(buffer_);
  buffer_.clear();
  return s;
}

Status BlockWriter::add(const EntryInfo& info, std::string_view payload) {
  if (payload.size() > kMaxRawBytes) return Status::InvalidArgument("block entry too large");
  if (info.max_ts < info.min_ts) return Status::InvalidArgument("block entry range inverted");
  if (info.device.size() + info.metric.size() > kMaxFrameBody / 2)
    return Status::InvalidArgument("series key too long");
  std::string compressed;
  const bool z = compress_if_pays(payload, &compressed);
  const std::string_view stored = z ? std::string_view(compressed) : payload;
  put_series(&index_, info, stored, z ? static_cast<uint32_t>(payload.size()) : 0);
  set_field(index_, kOpenAt, field(index_, kOpenAt) + 1);
  buffer_.append(stored);
  ++entries_;
  const uint64_t group_start = offset_ - file_->size();  // in buffer_
  if (buffer_.size() - group_start < kGroupBytes && field(index_, kOpenAt) < kGroupSeries &&
      index_.size() < kMaxFrameBody / 2)
    return Status::Ok();
  close_group(buffer_, index_, group_start);
  offset_ = file_->size() + buffer_.size();
  if (buffer_.size() >= kBufferBytes) return flush_buffer();
  return Status::Ok();
}

Result<uint64_t> BlockWriter::finish() {
  close_group(buffer_, index_, offset_ - file_->size());
  // The end frame closes the data section: how many series and groups it holds and what the
  // block replaces, so a block whose index or footer is damaged is still known to be complete.
  put_frame(&buffer_, end_body(entries_, meta_.replaces));
  offset_ = file_->size() + buffer_.size();
  // The index: the replaced ids, the number of series and of groups (the group frames are
  // found by walking the data section).
  std::string index;
  codec::put_uvarint(&index, meta_.replaces.size());
  for (uint64_t id : meta_.replaces) put_fixed<uint64_t>(&index, id);
  codec::put_uvarint(&index, entries_);
  codec::put_uvarint(&index, field(index_, kGroupsAt));
  if (index.size() > kMaxRawBytes) return Status::InvalidArgument("block index too large");
  std::string compressed;
  const bool z = compress_if_pays(index, &compressed);
  const std::string& stored = z ? compressed : index;

  const uint64_t index_offset = offset_;
  buffer_.append(stored);
  std::string footer;
  put_fixed<uint64_t>(&footer, index_offset);
  put_fixed<uint32_t>(&footer, static_cast<uint32_t>(stored.size()));
  put_fixed<uint32_t>(&footer, z ? static_cast<uint32_t>(index.size()) : 0);
  put_fixed<uint32_t>(&footer, crc32c(stored));
  put_fixed<uint32_t>(&footer, static_cast<uint32_t>(meta_.resolution));
  put_fixed<uint64_t>(&footer, meta_.seq);
  put_fixed<uint64_t>(&footer, meta_.id);
  put_fixed<int64_t>(&footer, meta_.partition_start);
  put_fixed<int64_t>(&footer, meta_.partition_ms);
  put_fixed<uint32_t>(&footer, crc32c(footer));
  footer.append(kFooterMagic);
  buffer_.append(footer);
  const uint64_t size = index_offset + stored.size() + footer.size();

  FP_RETURN_IF_ERROR(flush_buffer());
  FP_RETURN_IF_ERROR(file_->sync());
  FP_RETURN_IF_ERROR(file_->close());
  FP_RETURN_IF_ERROR(fs_.rename(join_path(dir_, name_ + ".tmp"), join_path(dir_, name_)));
  finished_ = true;
  FP_RETURN_IF_ERROR(fs_.sync_dir(dir_));
  return size;
}

}  // namespace fp::block
