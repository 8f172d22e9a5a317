#include "storage/block/block_reader.h"

#include <zstd.h>

#include "storage/codec/chunk_format.h"
#include "storage/wal/crc32c.h"

namespace fp::block {
namespace {

Status corrupt(std::string_view what) {
  return Status::Corruption("block: " + std::string(what));
}

// Decompresses a zstd frame that must expand to exactly `raw_len` bytes.
Result<std::string> inflate(std::string_view stored, uint32_t raw_len) {
  if (raw_len > kMaxRawBytes) return corrupt("declared size too large");
  std::string out(raw_len, '\0');
  const size_t n = ZSTD_decompress(out.data(), out.size(), stored.data(), stored.size());
  if (ZSTD_isError(n) || n != raw_len) return corrupt("zstd frame does not decode");
  return out;
}

class Cursor {
 public:
  explicit Cursor(std::string_view d) : p_(d.data()), end_(d.data() + d.size()) {}
  bool uvarint(uint64_t* v) {
    auto* p = reinterpret_cast<const uint8_t*>(p_);
    if (!codec::get_uvarint(&p, reinterpret_cast<const uint8_t*>(end_), v)) return false;
    p_ = reinterpret_cast<const char*>(p);
    return true;
  }
  bool string(std::string* s) {
    uint64_t n;
    if (!uvarint(&n) || n > static_cast<uint64_t>(end_ - p_)) return false;
    s->assign(p_, n);
    p_ += n;
    return true;
  }
  template <typename T>
  bool fixed(T* v) {
    if (static_cast<size_t>(end_ - p_) < sizeof(T)) return false;
    *v = get_fixed<T>(p_);
    p_ += sizeof(T);
    return true;
  }
  bool done() const { return p_ == end_; }

 private:
  const char* p_;
  const char* end_;
};

}  // namespace

Result<std::unique_ptr<BlockReader>> BlockReader::open(FileSystem& fs, const std::string& path) {
  FP_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file, fs.map_file(path));
  auto r = parse(std::move(file));
  if (!r.ok()) return Status(r.status().code(), path + ": " + r.status().message());
  return r;
}

Result<std::unique_ptr<BlockReader>> BlockReader::parse(std::shared_ptr<const MappedFile> file,
                                                        bool trust_footer) {
  std::unique_ptr<BlockReader> r(new BlockReader(std::move(file)));
  const std::string_view b = r->file_->bytes();
  if (b.size() < kHeaderBytes + kFooterBytes) return corrupt("file too short");
  if (trust_footer) {
    if (b.substr(0, 8) != kHeaderMagic) return corrupt("not a block file (bad magic)");
    if (get_fixed<uint16_t>(b.data() + 8) != kVersion)
      return corrupt("unsupported format version " +
                     std::to_string(get_fixed<uint16_t>(b.data() + 8)));
    if (b[11] != 0 || get_fixed<uint32_t>(b.data() + 12) != 0) return corrupt("bad header");
  }

  const std::string_view footer = b.substr(b.size() - kFooterBytes);
  if (trust_footer && footer.substr(60) != kFooterMagic)
    return corrupt("bad footer magic (torn file?)");
  if (trust_footer && crc32c(footer.substr(0, 56)) != get_fixed<uint32_t>(footer.data() + 56))
    return corrupt("footer checksum mismatch");
  const auto index_offset = get_fixed<uint64_t>(footer.data());
  const auto index_len = get_fixed<uint32_t>(footer.data() + 8);
  const auto index_raw_len = get_fixed<uint32_t>(footer.data() + 12);
  const auto index_crc = get_fixed<uint32_t>(footer.data() + 16);
  // The resolution is in the header (for tools) and in the checksummed footer; they agree.
  auto resolution = get_fixed<uint32_t>(footer.data() + 20);
  if (!trust_footer && resolution > static_cast<uint32_t>(Resolution::kHour))
    resolution = static_cast<uint8_t>(b[10]);  // the header's copy
  if (resolution > static_cast<uint32_t>(Resolution::kHour) ||
      (trust_footer && static_cast<uint8_t>(b[10]) != resolution))
    return corrupt("bad resolution");
  r->meta_.resolution = static_cast<Resolution>(resolution);
  r->meta_.seq = get_fixed<uint64_t>(footer.data() + 24);
  r->meta_.id = get_fixed<uint64_t>(footer.data() + 32);
  r->meta_.partition_start = get_fixed<int64_t>(footer.data() + 40);
  r->meta_.partition_ms = get_fixed<int64_t>(footer.data() + 48);
  const uint64_t body_end = b.size() - kFooterBytes;
  if (index_offset < kHeaderBytes || index_offset > body_end ||
      index_len != body_end - index_offset)
    return corrupt("index out of bounds");
  const std::string_view stored = b.substr(index_offset, index_len);
  if (crc32c(stored) != index_crc) return corrupt("index checksum mismatch");
  if (index_raw_len == 0) {
    FP_RETURN_IF_ERROR(r->parse_index(stored));
  } else {
    FP_ASSIGN_OR_RETURN(std::string index, inflate(stored, index_raw_len));
    FP_RETURN_IF_ERROR(r->parse_index(index));
  }
  for (const Entry& e : r->entries_) {
    if (e.offset < kHeaderBytes || e.offset > index_offset ||
        e.stored_len > index_offset - e.offset)
      return corrupt("entry out of bounds");
  }
  return r;
}

Status BlockReader::parse_index(std::string_view index) {
  Cursor c(index);
  uint64_t n = 0;
  if (!c.uvarint(&n) || n > index.size() / 8) return corrupt("bad replaces list");
  meta_.replaces.resize(n);
  for (uint64_t& id : meta_.replaces)
    if (!c.fixed(&id)) return corrupt("truncated replaces list");
  // An entry takes at least 46 bytes, which bounds the count before reserving.
  if (!c.uvarint(&n) || n > index.size() / 46) return corrupt("bad entry count");
  entries_.resize(n);
  for (Entry& e : entries_) {
    if (!c.string(&e.device) || !c.string(&e.metric) || !c.fixed(&e.min_ts) ||
        !c.fixed(&e.max_ts) || !c.fixed(&e.last_value) || !c.fixed(&e.count) ||
        !c.fixed(&e.offset) || !c.fixed(&e.stored_len) || !c.fixed(&e.raw_len) || !c.fixed(&e.crc))
      return corrupt("truncated index entry");
    if (e.min_ts > e.max_ts) return corrupt("entry time range inverted");
  }
  if (!c.done()) return corrupt("trailing bytes after the index");
  return Status::Ok();
}

Status BlockReader::verify(const Entry& e) const {
  if (crc32c(file_->bytes().substr(e.offset, e.stored_len)) != e.crc)
    return corrupt("payload checksum mismatch for " + e.device + "/" + e.metric);
  return Status::Ok();
}

Result<std::string> BlockReader::payload(const Entry& e) const {
  const std::string_view stored = file_->bytes().substr(e.offset, e.stored_len);
  if (crc32c(stored) != e.crc)
    return corrupt("payload checksum mismatch for " + e.device + "/" + e.metric);
  if (e.raw_len == 0) return std::string(stored);
  return inflate(stored, e.raw_len);
}

}  // namespace fp::block
