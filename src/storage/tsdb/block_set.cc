#include "storage/tsdb/block_set.h"

#include <algorithm>
#include <cstdio>
#include <tuple>

#include "storage/codec/chunk_decoder.h"

namespace fp::tsdb {

void sort_blocks(BlockList& blocks) {
  std::sort(blocks.begin(), blocks.end(), [](const auto& a, const auto& b) {
    const auto& x = a->meta();
    const auto& y = b->meta();
    return std::tuple(x.partition_start, x.resolution, x.seq, x.id) <
           std::tuple(y.partition_start, y.resolution, y.seq, y.id);
  });
}

bool visible(const Tombstones& t, std::string_view device, uint64_t seq) {
  if (t.empty()) return true;
  if (auto all = t.find(""); all != t.end() && seq < all->second) return false;
  auto it = t.find(device);
  return it == t.end() || seq >= it->second;
}

std::shared_ptr<const LoadedBlock> make_loaded_block(std::unique_ptr<block::BlockReader> reader,
                                                     std::string path, SeriesIndex& index,
                                                     const Tombstones& tombstones, bool create) {
  auto b = std::make_shared<LoadedBlock>();
  const auto& entries = reader->entries();
  const uint64_t seq = reader->meta().seq;
  b->by_series.reserve(entries.size());
  for (uint32_t i = 0; i < entries.size(); ++i) {
    const block::Entry& e = entries[i];
    if (!visible(tombstones, e.device, seq)) continue;
    std::optional<SeriesId> id;
    if (create)
      id = index.get_or_create(e.device, e.metric);
    else
      id = index.find(e.device, e.metric);
    if (id) b->by_series.emplace_back(*id, i);
  }
  std::sort(b->by_series.begin(), b->by_series.end());
  b->reader = std::move(reader);
  b->path = std::move(path);
  return b;
}

Status append_points(const LoadedBlock& b, const block::Entry& e, int64_t start, int64_t end,
                     std::vector<Sample>& out) {
  if (e.max_ts < start || e.min_ts > end) return Status::Ok();
  FP_ASSIGN_OR_RETURN(std::string payload, b.reader->payload(e));
  codec::ChunkDecoder dec(payload);
  int64_t ts;
  double v;
  while (dec.next(ts, v)) {
    if (ts >= start && ts <= end) out.push_back({ts, v});
  }
  return dec.status();
}

void merge_newest_wins(std::vector<Sample>& all) {
  // Most reads have one source, already in strictly increasing time: nothing to sort or drop
  // (a stable sort would still copy through a buffer).
  if (std::adjacent_find(all.begin(), all.end(), [](const Sample& a, const Sample& b) {
        return a.ts >= b.ts;
      }) == all.end())
    return;
  std::stable_sort(all.begin(), all.end(),
                   [](const Sample& a, const Sample& b) { return a.ts < b.ts; });
  size_t out = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    if (out > 0 && all[out - 1].ts == all[i].ts)
      all[out - 1] = all[i];
    else
      all[out++] = all[i];
  }
  all.resize(out);
}

std::string block_file_name(uint64_t id) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llu.blk", static_cast<unsigned long long>(id));
  return buf;
}

}  // namespace fp::tsdb
