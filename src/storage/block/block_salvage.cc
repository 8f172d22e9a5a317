#include "storage/block/block_salvage.h"

#include <algorithm>

#include "storage/block/block_frame.h"
#include "storage/wal/crc32c.h"

namespace fp::block {
namespace {

int64_t floor_to(int64_t ts, int64_t width) {
  int64_t q = ts / width;
  if (ts % width < 0) --q;
  return q * width;
}

bool entries_within(const BlockReader& r, int64_t start, int64_t ms) {
  if (ms <= 0 || start > INT64_MAX - ms) return false;
  return std::all_of(r.entries().begin(), r.entries().end(), [&](const Entry& e) {
    return is_unknown_loss(e) || (e.min_ts >= start && e.max_ts < start + ms);
  });
}

}  // namespace

BlockSalvage salvage_block(std::shared_ptr<const MappedFile> file, int64_t partition_ms) {
  BlockSalvage s;
  const std::string_view b = file->bytes();
  if (b.size() >= kHeaderBytes + kFooterBytes) {
    const std::string_view footer = b.substr(b.size() - kFooterBytes);
    s.footer_ok = footer.substr(60) == kFooterMagic &&
                  crc32c(footer.substr(0, 56)) == get_fixed<uint32_t>(footer.data() + 56);
    s.meta.seq = get_fixed<uint64_t>(footer.data() + 24);
    s.meta.id = get_fixed<uint64_t>(footer.data() + 32);
    s.meta.partition_start = get_fixed<int64_t>(footer.data() + 40);
    s.meta.partition_ms = get_fixed<int64_t>(footer.data() + 48);
    const auto res = get_fixed<uint32_t>(footer.data() + 20);
    if (res <= static_cast<uint32_t>(Resolution::kHour)) s.meta.resolution = Resolution(res);
  } else {
    s.problem = "file too short (torn or truncated)";
  }
  auto strict = BlockReader::parse(file, true);
  if (strict.ok()) {
    s.reader = std::move(*strict);
  } else {
    s.problem = strict.status().message();
    if (auto lenient = BlockReader::parse(file, false); lenient.ok())
      s.reader = std::move(*lenient);
  }
  if (s.footer_ok && !s.reader) s.range_known = s.meta.partition_ms > 0;
  if (!s.reader) return s;
  s.meta = s.reader->meta();
  const auto& entries = s.reader->entries();
  for (uint32_t i = 0; i < entries.size(); ++i) {
    const Status v = s.reader->verify(entries[i]);
    (v.ok() ? s.good : s.lost).push_back(i);
    if (!v.ok() && s.problem.empty()) s.problem = v.message();
  }
  file->release_resident();  // every page was read: none need stay in the process' RSS
  BlockMeta header;
  if (s.footer_ok || read_header_v2(file->bytes(), &header)) {
    s.range_known = true;
  } else if (entries_within(*s.reader, s.meta.partition_start, s.meta.partition_ms) &&
             s.meta.partition_start % s.meta.partition_ms == 0) {
    s.range_known = true;
  } else if (!entries.empty() && partition_ms > 0) {
    // The earliest entry with a key (an unknown loss is not one; the walk puts it last).
    const auto lo = std::min_element(entries.begin(), entries.end(), [](auto& x, auto& y) {
      return !is_unknown_loss(x) && (is_unknown_loss(y) || x.min_ts < y.min_ts);
    });
    const int64_t start = is_unknown_loss(*lo) ? 0 : floor_to(lo->min_ts, partition_ms);
    if (!is_unknown_loss(*lo) && entries_within(*s.reader, start, partition_ms)) {
      s.meta.partition_start = start;
      s.meta.partition_ms = partition_ms;
      s.range_known = true;
    }
  }
  return s;
}

}  // namespace fp::block
