#include "storage/block/block_writer.h"

#include <zstd.h>

#include "storage/block/block_frame.h"
#include "storage/codec/chunk_format.h"
#include "storage/wal/crc32c.h"

namespace fp::block {
namespace {

constexpr size_t kBufferBytes = size_t{1} << 20;

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
  offset_ = buffer_.size();
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
  std::string compressed;
  const bool z = compress_if_pays(payload, &compressed);
  const std::string_view stored = z ? std::string_view(compressed) : payload;
  const std::string body = series_body(info, stored, z ? static_cast<uint32_t>(payload.size()) : 0);
  if (body.size() > kMaxFrameBody) return Status::InvalidArgument("series key too long");
  // Until finish() turns them into deltas, index_ holds each frame's offset as u64.
  put_fixed<uint64_t>(&index_, offset_);
  const size_t before = buffer_.size();
  put_frame(&buffer_, body);
  buffer_.append(stored);
  offset_ += buffer_.size() - before;
  ++entries_;
  if (buffer_.size() >= kBufferBytes) return flush_buffer();
  return Status::Ok();
}

Result<uint64_t> BlockWriter::finish() {
  // The end frame closes the data section: how many series it holds and what it replaces, so
  // a block whose index or footer is damaged is still known to be complete.
  const size_t before = buffer_.size();
  put_frame(&buffer_, end_body(entries_, meta_.replaces));
  offset_ += buffer_.size() - before;
  // The index: the replaced ids, then each series frame's offset as a uvarint delta.
  std::string index;
  codec::put_uvarint(&index, meta_.replaces.size());
  for (uint64_t id : meta_.replaces) put_fixed<uint64_t>(&index, id);
  codec::put_uvarint(&index, entries_);
  uint64_t previous = 0;
  for (size_t i = 0; i < entries_; ++i) {
    const auto frame = get_fixed<uint64_t>(index_.data() + i * 8);
    codec::put_uvarint(&index, frame - previous);
    previous = frame;
  }
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
