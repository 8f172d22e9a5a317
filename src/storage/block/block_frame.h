#pragma once
// Format version 2 of a block file (docs/formats/block.md is the reference): a 56-byte header
// that carries the block's meta (seq, id, partition) under its own checksum, and a data section
// that describes itself — payloads come in groups (up to kGroupBytes of payload), each group
// preceded by a group frame listing its series (key, time range, count, lengths, the payload's
// checksum; zstd-compressed when that pays, under the frame's own checksum), and an end frame
// (series count, replaced ids) after the last group. The index then only lists the group
// frames' offsets. A block whose index or footer is damaged, or which is cut short, can so
// still be read frame by frame; a damaged group frame costs its group. Grouping keeps the
// series keys compressible, so this costs no more bytes per value than version 1's compressed
// index. Version 1 (kVersion in block_format.h: 16-byte header, keys only in the index) is
// still read. Shared by BlockWriter, BlockReader and salvage.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/block/block_reader.h"
#include "storage/block/block_writer.h"
#include "storage/codec/chunk_format.h"

namespace fp::block {

inline constexpr uint16_t kVersion2 = 2;
inline constexpr size_t kHeaderBytesV2 = 56;
// A frame is this magic, a uvarint body length, the body, then crc32c u32 of all of that.
inline constexpr std::string_view kFrameMagic{"FPSF", 4};
inline constexpr uint8_t kFrameGroup = 1;  // body kind: a group; its payloads follow the frame
inline constexpr uint8_t kFrameEnd = 2;    // body kind: the end of the data section
// A group is closed once its payloads reach this many bytes (or it has kGroupSeries series).
inline constexpr size_t kGroupBytes = 64u << 10;
inline constexpr size_t kGroupSeries = 1024;
// A longer body is not a frame (a corrupt length must not make anyone checksum gigabytes).
inline constexpr uint64_t kMaxFrameBody = 16u << 20;

// Reads the fields of a bounded byte range (indexes and frame bodies); every read fails rather
// than pass the end.
class Cursor {
 public:
  explicit Cursor(std::string_view d) : p_(d.data()), end_(d.data() + d.size()) {}
  bool uvarint(uint64_t* v) {
    auto* p = reinterpret_cast<const uint8_t*>(p_);
    if (!codec::get_uvarint(&p, reinterpret_cast<const uint8_t*>(end_), v)) return false;
    p_ = reinterpret_cast<const char*>(p);
    return true;
  }
  bool bytes(uint64_t n, std::string_view* out) {
    if (n > static_cast<uint64_t>(end_ - p_)) return false;
    *out = std::string_view(p_, n);
    p_ += n;
    return true;
  }
  // A length-prefixed string, stored once in `names`.
  bool name(NameTable* names, std::string_view* s) {
    uint64_t n;
    std::string_view v;
    if (!uvarint(&n) || !bytes(n, &v)) return false;
    *s = names->intern(v);
    return true;
  }
  bool string(std::string* s) {
    uint64_t n;
    std::string_view v;
    if (!uvarint(&n) || !bytes(n, &v)) return false;
    s->assign(v);
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
  const char* at() const { return p_; }

 private:
  const char* p_;
  const char* end_;
};

// Appends the version-2 header of `m` (its `replaces` go in the end frame).
void put_header_v2(std::string* out, const BlockMeta& m);
// The version-2 header's meta (without `replaces`), when its magic, version and checksum hold.
bool read_header_v2(std::string_view file, BlockMeta* m);

// Appends a frame around `body` (which starts with its kind byte).
void put_frame(std::string* out, std::string_view body);
// Appends the description of one series of a group to `out`: `info`, and its stored payload
// `stored` (zstd-compressed from `raw_len` bytes, or raw_len 0 when stored as is).
void put_series(std::string* out, const EntryInfo& info, std::string_view stored, uint32_t raw_len);
// The body of a group frame for `n` series described (put_series) in `series`.
std::string group_body(uint64_t n, std::string_view series);
// The body of the end frame: the number of series before it and the replaced ids.
std::string end_body(uint64_t series, const std::vector<uint64_t>& replaces);

struct Frame {
  uint8_t kind = 0;
  std::string_view body;  // after the kind byte
  uint64_t end = 0;       // file offset just past the frame's checksum
};
// The frame at `pos` of `file`, when its magic, length and checksum are right.
bool read_frame(std::string_view file, uint64_t pos, Frame* f);
// A group frame's body: appends its series to `out`, their payloads back to back from
// `payload_offset`. False (and `out` as it was) when the body does not parse.
bool parse_group(std::string_view body, uint64_t payload_offset, NameTable* names,
                 std::vector<Entry>* out);
// An end frame's body.
bool parse_end(std::string_view body, uint64_t* series, std::vector<uint64_t>* replaces);

// True for the entry salvage adds for readings of unknown series a damaged block may have lost
// (no key, no payload: it never verifies).
inline bool is_unknown_loss(const Entry& e) {
  return e.device.empty() && e.metric.empty() && e.stored_len == 0;
}

}  // namespace fp::block
