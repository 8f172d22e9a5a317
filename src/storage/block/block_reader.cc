#include "storage/block/block_reader.h"

#include <zstd.h>

#include <algorithm>

#include "storage/block/block_frame.h"
#include "storage/codec/chunk_format.h"
#include "storage/wal/crc32c.h"

namespace fp::block {
namespace {

Status corrupt(std::string_view what) {
  return Status::Corruption("block: " + std::string(what));
}

// One decompression context per thread, kept: ZSTD_decompress() makes and frees one per call,
// which was 59 % of a fleet aggregate reading 10,001 rollup entries (docs/benchmarks.md).
ZSTD_DCtx* thread_dctx() {
  struct Owned {
    ZSTD_DCtx* ctx = ZSTD_createDCtx();
    ~Owned() { ZSTD_freeDCtx(ctx); }
  };
  thread_local Owned owned;
  return owned.ctx;
}

// Decompresses a zstd frame that must expand to exactly `raw_len` bytes.
Result<std::string> inflate(std::string_view stored, uint32_t raw_len) {
  if (raw_len > kMaxRawBytes) return corrupt("declared size too large");
  std::string out(raw_len, '\0');
  ZSTD_DCtx* ctx = thread_dctx();
  if (ctx == nullptr) return Status::Internal("zstd: cannot allocate a decompression context");
  const size_t n = ZSTD_decompressDCtx(ctx, out.data(), out.size(), stored.data(), stored.size());
  if (ZSTD_isError(n) || n != raw_len) return corrupt("zstd frame does not decode");
  return out;
}

}  // namespace

Result<std::unique_ptr<BlockReader>> BlockReader::open(FileSystem& fs, const std::string& path) {
  FP_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file, fs.map_file(path));
  auto r = parse(std::move(file));
  if (!r.ok()) return Status(r.status().code(), path + ": " + r.status().message());
  (*r)->release_resident();
  return r;
}

Result<std::unique_ptr<BlockReader>> BlockReader::parse(std::shared_ptr<const MappedFile> file,
                                                        bool trust_footer) {
  std::unique_ptr<BlockReader> r(new BlockReader(std::move(file)));
  const std::string_view b = r->file_->bytes();
  const uint16_t version = b.size() >= 10 ? get_fixed<uint16_t>(b.data() + 8) : 0;
  // Format version 2 (block_frame.h). Lambdas: they need the reader's private members, and
  // this is the one member function that builds readers.
  // The index a sound footer points at: the replaced ids, the numbers of series and groups.
  struct IndexV2 {
    uint64_t offset = 0;  // where the index starts: the end of the data section
    std::vector<uint64_t> replaces;
    uint64_t series = 0;
    uint64_t groups = 0;
  };
  auto read_index_v2 = [&](IndexV2* ix) -> Status {
    if (b.size() < kHeaderBytesV2 + kFooterBytes) return corrupt("file too short");
    const std::string_view footer = b.substr(b.size() - kFooterBytes);
    if (footer.substr(60) != kFooterMagic) return corrupt("bad footer magic (torn file?)");
    if (crc32c(footer.substr(0, 56)) != get_fixed<uint32_t>(footer.data() + 56))
      return corrupt("footer checksum mismatch");
    const auto index_offset = get_fixed<uint64_t>(footer.data());
    const auto index_len = get_fixed<uint32_t>(footer.data() + 8);
    const auto index_raw_len = get_fixed<uint32_t>(footer.data() + 12);
    const uint64_t body_end = b.size() - kFooterBytes;
    if (index_offset < kHeaderBytesV2 || index_offset > body_end ||
        index_len != body_end - index_offset)
      return corrupt("index out of bounds");
    const std::string_view stored = b.substr(index_offset, index_len);
    if (crc32c(stored) != get_fixed<uint32_t>(footer.data() + 16))
      return corrupt("index checksum mismatch");
    std::string inflated;
    if (index_raw_len != 0) {
      FP_ASSIGN_OR_RETURN(inflated, inflate(stored, index_raw_len));
    }
    const std::string_view index = index_raw_len != 0 ? std::string_view(inflated) : stored;
    Cursor c(index);
    uint64_t n = 0;
    if (!c.uvarint(&n) || n > index.size() / 8) return corrupt("bad replaces list");
    ix->offset = index_offset;
    ix->replaces.resize(n);
    for (uint64_t& id : ix->replaces)
      if (!c.fixed(&id)) return corrupt("truncated replaces list");
    // A group frame takes more than 8 bytes of the data section and holds at most
    // kGroupSeries series (a series itself may take less than a byte: zstd over its group).
    if (!c.uvarint(&ix->series) || !c.uvarint(&ix->groups) || ix->groups > index_offset / 8 ||
        ix->series > ix->groups * kGroupSeries)
      return corrupt("bad entry count");
    if (!c.done()) return corrupt("trailing bytes after the index");
    return Status::Ok();
  };
  auto parse_v2 = [&]() -> Status {
    if (b.size() < kHeaderBytesV2 + kFooterBytes) return corrupt("file too short");
    if (!read_header_v2(b, &r->meta_)) return corrupt("header checksum mismatch");
    IndexV2 ix;
    FP_RETURN_IF_ERROR(read_index_v2(&ix));
    // The footer repeats the header's meta (both checksummed); they must agree.
    const std::string_view footer = b.substr(b.size() - kFooterBytes);
    const BlockMeta& m = r->meta_;
    if (get_fixed<uint32_t>(footer.data() + 20) != static_cast<uint32_t>(m.resolution) ||
        get_fixed<uint64_t>(footer.data() + 24) != m.seq ||
        get_fixed<uint64_t>(footer.data() + 32) != m.id ||
        get_fixed<int64_t>(footer.data() + 40) != m.partition_start ||
        get_fixed<int64_t>(footer.data() + 48) != m.partition_ms)
      return corrupt("header and footer disagree");
    r->meta_.replaces = ix.replaces;
    // The groups lie back to back from the header, then the end frame, then the index.
    const std::string_view data = b.substr(0, ix.offset);
    uint64_t next = kHeaderBytesV2;
    // Exactly as many entries as the index counts (loaded blocks keep them): no growth slack.
    // A series takes at least a byte of the data section (its payload), which bounds it.
    r->entries_.reserve(std::min<uint64_t>(ix.series, ix.offset));
    for (uint64_t g = 0; g < ix.groups; ++g) {
      Frame f;
      const size_t before = r->entries_.size();
      if (!read_frame(data, next, &f) || f.kind != kFrameGroup ||
          !parse_group(f.body, f.end, &r->names_, &r->entries_) || r->entries_.size() == before)
        return corrupt("group frame damaged");
      const Entry& last = r->entries_.back();
      if (r->entries_.size() > ix.series || last.offset > ix.offset ||
          last.stored_len > ix.offset - last.offset)
        return corrupt("entry out of bounds");
      next = last.offset + last.stored_len;
    }
    Frame end;
    uint64_t count = 0;
    std::vector<uint64_t> replaces;
    if (r->entries_.size() != ix.series || !read_frame(data, next, &end) || end.kind != kFrameEnd ||
        end.end != ix.offset || !parse_end(end.body, &count, &replaces) || count != ix.series ||
        replaces != r->meta_.replaces)
      return corrupt("end frame damaged");
    return Status::Ok();
  };
  // Salvage without index or footer: walks the data section from the header, taking the series
  // of every group frame whose checksum verifies (after damage, on to the next frame magic; a false
  // match fails its checksum). meta: the header's if it verifies, else the footer's values
  // (unverified); `replaces` from the end frame. Unless the walk reached the end frame with
  // nothing skipped, the series count matching and every payload inside the file, series may
  // be missing: an entry with no key and no payload (never verifies) stands for them over the
  // block's partition (or all time when neither header nor footer verifies).
  auto walk_frames = [&]() -> bool {
    const bool header_ok = read_header_v2(b, &r->meta_);
    bool footer_ok = false;
    if (b.size() >= kFooterBytes) {
      const std::string_view footer = b.substr(b.size() - kFooterBytes);
      footer_ok = footer.substr(60) == kFooterMagic &&
                  crc32c(footer.substr(0, 56)) == get_fixed<uint32_t>(footer.data() + 56);
      if (!header_ok) {
        const auto res = get_fixed<uint32_t>(footer.data() + 20);
        if (res <= static_cast<uint32_t>(Resolution::kHour))
          r->meta_.resolution = static_cast<Resolution>(res);
        r->meta_.seq = get_fixed<uint64_t>(footer.data() + 24);
        r->meta_.id = get_fixed<uint64_t>(footer.data() + 32);
        r->meta_.partition_start = get_fixed<int64_t>(footer.data() + 40);
        r->meta_.partition_ms = get_fixed<int64_t>(footer.data() + 48);
      }
    }
    bool gap = false, ended = false, cut = false;
    bool skipped = false;  // a group was read after damage was skipped
    uint64_t declared = 0, groups = 0;
    uint64_t pos = std::min<uint64_t>(kHeaderBytesV2, b.size());
    while (pos < b.size()) {
      Frame f;
      const bool framed = read_frame(b, pos, &f);
      const size_t before = r->entries_.size();
      if (framed && f.kind == kFrameGroup && parse_group(f.body, f.end, &r->names_, &r->entries_) &&
          r->entries_.size() > before) {
        ++groups;
        skipped |= gap;
        const Entry& last = r->entries_.back();
        // The file may end inside the group's payloads: those entries stay (they fail their
        // checksum), what came after them is unknown.
        cut = last.offset > b.size() || last.stored_len > b.size() - last.offset;
        if (cut) {
          for (size_t i = before; i < r->entries_.size(); ++i) {
            Entry& e = r->entries_[i];
            if (e.offset <= b.size()) continue;
            e.offset = b.size();  // wholly past the end: nothing of it to check
            e.stored_len = 0;
            e.crc = ~crc32c(std::string_view());
          }
          break;
        }
        pos = last.offset + last.stored_len;
        continue;
      }
      if (framed && f.kind == kFrameEnd && parse_end(f.body, &declared, &r->meta_.replaces)) {
        ended = true;
        break;
      }
      gap = true;
      const size_t next = b.find(kFrameMagic, pos + 1);
      if (next == std::string_view::npos) break;
      pos = next;
    }
    if (r->entries_.empty() && !ended) return false;
    bool complete = ended && !gap && !cut && declared == r->entries_.size();
    if (!complete && !skipped && !cut) {
      // The end frame is damaged, but an index that verifies counts exactly what was read
      // (back to back from the header).
      IndexV2 ix;
      if (read_index_v2(&ix).ok() && ix.series == r->entries_.size() && ix.groups == groups) {
        complete = true;
        r->meta_.replaces = ix.replaces;
      }
    }
    if (!complete) {
      Entry unknown;
      const BlockMeta& m = r->meta_;
      const bool range = (header_ok || footer_ok) && m.partition_ms > 0 &&
                         m.partition_start <= INT64_MAX - m.partition_ms;
      unknown.min_ts = range ? m.partition_start : INT64_MIN;
      unknown.max_ts = range ? m.partition_start + m.partition_ms - 1 : INT64_MAX;
      unknown.crc = ~crc32c(std::string_view());
      r->entries_.push_back(std::move(unknown));
    }
    r->entries_.shrink_to_fit();  // grown as the walk found groups
    return true;
  };
  if (version == kVersion2 && trust_footer) {
    FP_RETURN_IF_ERROR(parse_v2());
    return r;
  }
  if (!trust_footer && version != kVersion) {
    // Version 2, or a header too damaged to say which (a version-1 index is tried below).
    if (walk_frames()) return r;
    if (version == kVersion2) return corrupt("no series frame found");
    r->entries_.clear();
    r->meta_ = {};
  }
  if (b.size() < kHeaderBytes + kFooterBytes) return corrupt("file too short");
  if (trust_footer) {
    if (b.substr(0, 8) != kHeaderMagic) return corrupt("not a block file (bad magic)");
    if (version != kVersion)
      return corrupt("unsupported format version " + std::to_string(version));
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

std::string_view NameTable::intern(std::string_view name) {
  auto it = names_.find(name);
  if (it == names_.end()) it = names_.emplace(name).first;
  return *it;
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
    if (!c.name(&names_, &e.device) || !c.name(&names_, &e.metric) || !c.fixed(&e.min_ts) ||
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
    return corrupt("payload checksum mismatch for " + std::string(e.device) + "/" +
                   std::string(e.metric));
  return Status::Ok();
}

Result<std::string> BlockReader::payload(const Entry& e) const {
  const std::string_view stored = file_->bytes().substr(e.offset, e.stored_len);
  if (crc32c(stored) != e.crc)
    return corrupt("payload checksum mismatch for " + std::string(e.device) + "/" +
                   std::string(e.metric));
  if (e.raw_len == 0) return std::string(stored);
  return inflate(stored, e.raw_len);
}

}  // namespace fp::block
