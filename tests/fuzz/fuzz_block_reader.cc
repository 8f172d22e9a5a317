// Fuzzes the block file reader and the rollup payload decoder with every input:
//  1. the bytes as a whole block file;
//  2. the bytes as a payload region and an index wrapped in a valid header and footer (with
//     correct checksums, so the index parser itself is reached, not just the CRC check);
//  3. the bytes as a version-2 data section: pieces separated by '|', the even ones wrapped as
//     group/end frames with correct checksums (so the frame parsers are reached), the odd
//     ones raw payload bytes, behind a valid header and in front of a matching index and
//     footer — and the same without index and footer (the frame-by-frame salvage);
//  4. the bytes as a rollup payload.
// The reader must answer ok or kCorruption without reading outside the input; every entry it
// accepts lies inside the file, and reading its payload never crashes. Salvage (what recovery
// keeps of a damaged block) runs on every input too: it never fails or reads outside the
// input, sorts every entry into good or lost, agrees with the strict reader on a whole
// block, and its good entries verify.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/block/block_format.h"
#include "storage/block/block_frame.h"
#include "storage/block/block_reader.h"
#include "storage/block/block_salvage.h"
#include "storage/codec/chunk_decoder.h"
#include "storage/codec/chunk_format.h"
#include "storage/tsdb/rollup.h"
#include "storage/wal/crc32c.h"

namespace {

using namespace fp;

void check(bool ok, const char* what) {
  if (!ok) {
    __builtin_printf("fuzz_block_reader: %s\n", what);
    std::abort();
  }
}

void salvage(const std::shared_ptr<const MappedFile>& file) {
  const size_t size = file->bytes().size();
  block::BlockSalvage s = block::salvage_block(file, 86'400'000);
  const bool strict_ok = block::BlockReader::parse(file).ok();
  if (s.whole()) check(strict_ok && s.reader, "a whole block the strict reader refuses");
  if (!s.reader) return;
  const auto& entries = s.reader->entries();
  check(s.good.size() + s.lost.size() == entries.size(), "entries neither good nor lost");
  for (uint32_t i : s.good) {
    check(entries[i].offset + entries[i].stored_len <= size, "salvaged entry outside the file");
    check(s.reader->verify(entries[i]).ok(), "a good entry does not verify");
    (void)s.reader->payload(entries[i]);
  }
  if (s.range_known) check(s.meta.partition_ms > 0, "a known range of zero width");
}

void read_all(std::string file) {
  const size_t size = file.size();
  auto mapped = bytes_as_mapped_file(std::move(file));
  salvage(mapped);
  auto r = block::BlockReader::parse(mapped);
  if (!r.ok()) {
    check(r.status().code() == StatusCode::kCorruption, "error other than kCorruption");
    return;
  }
  for (const block::Entry& e : (*r)->entries()) {
    check(e.offset + e.stored_len <= size, "entry outside the file");
    auto payload = (*r)->payload(e);
    if (!payload.ok()) continue;
    if ((*r)->meta().resolution == block::Resolution::kRaw)
      (void)codec::decode_chunk(*payload);
    else
      (void)tsdb::decode_rollups(*payload);
  }
}

// `f` followed by `index` and the checksummed footer both versions share (seq 1, id 1, one day).
std::string with_index_and_footer(std::string f, std::string_view index, uint8_t resolution) {
  const uint64_t index_offset = f.size();
  f.append(index);
  std::string footer;
  block::put_fixed<uint64_t>(&footer, index_offset);
  block::put_fixed<uint32_t>(&footer, static_cast<uint32_t>(index.size()));
  block::put_fixed<uint32_t>(&footer, 0);
  block::put_fixed<uint32_t>(&footer, crc32c(index));
  block::put_fixed<uint32_t>(&footer, resolution);
  block::put_fixed<uint64_t>(&footer, 1);
  block::put_fixed<uint64_t>(&footer, 1);
  block::put_fixed<int64_t>(&footer, 0);
  block::put_fixed<int64_t>(&footer, 86'400'000);
  block::put_fixed<uint32_t>(&footer, crc32c(footer));
  footer.append(block::kFooterMagic);
  return f + footer;
}

std::string wrap(std::string_view payloads, std::string_view index, uint8_t resolution) {
  std::string f(block::kHeaderMagic);
  block::put_fixed<uint16_t>(&f, block::kVersion);
  block::put_fixed<uint8_t>(&f, resolution);
  block::put_fixed<uint8_t>(&f, 0);
  block::put_fixed<uint32_t>(&f, 0);
  f.append(payloads);
  return with_index_and_footer(std::move(f), index, resolution);
}

// Version 2 around `in` (see 3. above). With `close` false the file stops after the data.
std::string wrap_v2(std::string_view in, uint8_t resolution, bool close) {
  std::string f(block::kHeaderMagic);
  block::put_fixed<uint16_t>(&f, block::kVersion2);
  block::put_fixed<uint8_t>(&f, resolution);
  block::put_fixed<uint8_t>(&f, 0);
  block::put_fixed<uint32_t>(&f, 0);
  block::put_fixed<uint64_t>(&f, 1);
  block::put_fixed<uint64_t>(&f, 1);
  block::put_fixed<int64_t>(&f, 0);
  block::put_fixed<int64_t>(&f, 86'400'000);
  block::put_fixed<uint32_t>(&f, crc32c(f));
  block::put_fixed<uint32_t>(&f, 0);
  std::vector<uint64_t> frames;
  for (size_t piece = 0;; ++piece) {
    const size_t bar = in.find('|');
    const std::string_view p = in.substr(0, bar);
    if (piece % 2 == 1) {
      f.append(p);
    } else if (!p.empty()) {
      frames.push_back(f.size());
      const size_t start = f.size();
      f.append(block::kFrameMagic);
      codec::put_uvarint(&f, p.size());
      f.append(p);
      block::put_fixed<uint32_t>(&f, crc32c(std::string_view(f).substr(start)));
    }
    if (bar == std::string_view::npos) break;
    in.remove_prefix(bar + 1);
  }
  if (!close) return f;
  // The index: no replaced ids, then series and group counts taken from the input's head.
  std::string index;
  codec::put_uvarint(&index, 0);
  codec::put_uvarint(&index, in.empty() ? 0 : static_cast<uint8_t>(in[0]) % 8);
  codec::put_uvarint(&index, frames.empty() ? 0 : frames.size() - 1);
  return with_index_and_footer(std::move(f), index, resolution);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  read_all(std::string(in));
  if (size >= 1) {
    const size_t n = data[0] % size;
    read_all(wrap(in.substr(1, n), in.substr(1 + n), static_cast<uint8_t>(data[0] % 3)));
    read_all(wrap_v2(in.substr(1), static_cast<uint8_t>(data[0] % 3), true));
    read_all(wrap_v2(in.substr(1), static_cast<uint8_t>(data[0] % 3), false));
  }
  (void)tsdb::decode_rollups(in);
  return 0;
}
