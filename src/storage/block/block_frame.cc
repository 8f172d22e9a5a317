#include "storage/block/block_frame.h"

#include <zstd.h>

#include "storage/codec/chunk_format.h"
#include "storage/wal/crc32c.h"

namespace fp::block {
namespace {

void put_string(std::string* out, std::string_view s) {
  codec::put_uvarint(out, s.size());
  out->append(s);
}

}  // namespace

void put_header_v2(std::string* out, const BlockMeta& m) {
  const size_t start = out->size();
  out->append(kHeaderMagic);
  put_fixed<uint16_t>(out, kVersion2);
  put_fixed<uint8_t>(out, static_cast<uint8_t>(m.resolution));
  put_fixed<uint8_t>(out, 0);
  put_fixed<uint32_t>(out, 0);
  put_fixed<uint64_t>(out, m.seq);
  put_fixed<uint64_t>(out, m.id);
  put_fixed<int64_t>(out, m.partition_start);
  put_fixed<int64_t>(out, m.partition_ms);
  put_fixed<uint32_t>(out, crc32c(std::string_view(*out).substr(start)));
  put_fixed<uint32_t>(out, 0);
}

bool read_header_v2(std::string_view b, BlockMeta* m) {
  if (b.size() < kHeaderBytesV2 || b.substr(0, 8) != kHeaderMagic) return false;
  if (get_fixed<uint16_t>(b.data() + 8) != kVersion2 || b[11] != 0 ||
      get_fixed<uint32_t>(b.data() + 12) != 0 || get_fixed<uint32_t>(b.data() + 52) != 0 ||
      crc32c(b.substr(0, 48)) != get_fixed<uint32_t>(b.data() + 48))
    return false;
  const auto res = static_cast<uint8_t>(b[10]);
  if (res > static_cast<uint8_t>(Resolution::kHour)) return false;
  m->resolution = static_cast<Resolution>(res);
  m->seq = get_fixed<uint64_t>(b.data() + 16);
  m->id = get_fixed<uint64_t>(b.data() + 24);
  m->partition_start = get_fixed<int64_t>(b.data() + 32);
  m->partition_ms = get_fixed<int64_t>(b.data() + 40);
  return true;
}

void put_frame(std::string* out, std::string_view body) {
  const size_t start = out->size();
  out->append(kFrameMagic);
  codec::put_uvarint(out, body.size());
  out->append(body);
  put_fixed<uint32_t>(out, crc32c(std::string_view(*out).substr(start)));
}

void put_series(std::string* out, const EntryInfo& info, std::string_view stored,
                uint32_t raw_len) {
  put_string(out, info.device);
  put_string(out, info.metric);
  put_fixed<int64_t>(out, info.min_ts);
  codec::put_uvarint(out, static_cast<uint64_t>(info.max_ts) - static_cast<uint64_t>(info.min_ts));
  put_fixed<double>(out, info.last_value);
  codec::put_uvarint(out, info.count);
  codec::put_uvarint(out, stored.size());
  codec::put_uvarint(out, raw_len);
  put_fixed<uint32_t>(out, crc32c(stored));
}

std::string group_body(uint64_t n, std::string_view series) {
  std::string body;
  body.push_back(static_cast<char>(kFrameGroup));
  codec::put_uvarint(&body, n);
  std::string compressed;
  const bool z = compress_if_pays(series, &compressed);
  codec::put_uvarint(&body, z ? series.size() : 0);
  body.append(z ? compressed : std::string(series));
  return body;
}

std::string end_body(uint64_t series, const std::vector<uint64_t>& replaces) {
  std::string body;
  body.push_back(static_cast<char>(kFrameEnd));
  codec::put_uvarint(&body, series);
  codec::put_uvarint(&body, replaces.size());
  for (uint64_t id : replaces) put_fixed<uint64_t>(&body, id);
  return body;
}

bool read_frame(std::string_view b, uint64_t pos, Frame* f) {
  if (pos > b.size() || b.size() - pos < kFrameMagic.size() + 1 + 4) return false;
  if (b.substr(pos, kFrameMagic.size()) != kFrameMagic) return false;
  Cursor c(b.substr(pos + kFrameMagic.size()));
  uint64_t len = 0;
  std::string_view body;
  uint32_t crc = 0;
  if (!c.uvarint(&len) || len == 0 || len > kMaxFrameBody || !c.bytes(len, &body)) return false;
  const auto covered = static_cast<uint64_t>(c.at() - (b.data() + pos));
  if (!c.fixed(&crc) || crc32c(b.substr(pos, covered)) != crc) return false;
  f->kind = static_cast<uint8_t>(body[0]);
  f->body = body.substr(1);
  f->end = pos + covered + 4;
  return true;
}

namespace {

bool parse_series(Cursor& c, uint64_t payload_offset, NameTable* names, Entry* e) {
  uint64_t span = 0, count = 0, stored = 0, raw = 0;
  if (!c.name(names, &e->device) || !c.name(names, &e->metric) || !c.fixed(&e->min_ts) ||
      !c.uvarint(&span) || !c.fixed(&e->last_value) || !c.uvarint(&count) || !c.uvarint(&stored) ||
      !c.uvarint(&raw) || !c.fixed(&e->crc))
    return false;
  if (count > UINT32_MAX || stored > kMaxRawBytes || raw > kMaxRawBytes) return false;
  // max_ts = min_ts + span must not pass INT64_MAX (unsigned arithmetic: no overflow).
  if (span > static_cast<uint64_t>(INT64_MAX) - static_cast<uint64_t>(e->min_ts)) return false;
  e->max_ts = static_cast<int64_t>(static_cast<uint64_t>(e->min_ts) + span);
  e->count = static_cast<uint32_t>(count);
  e->stored_len = static_cast<uint32_t>(stored);
  e->raw_len = static_cast<uint32_t>(raw);
  e->offset = payload_offset;
  return !is_unknown_loss(*e);
}

}  // namespace

bool parse_group(std::string_view body, uint64_t payload_offset, NameTable* names,
                 std::vector<Entry>* out) {
  Cursor c(body);
  uint64_t n = 0, raw_len = 0;
  if (!c.uvarint(&n) || !c.uvarint(&raw_len) || raw_len > kMaxRawBytes) return false;
  std::string_view rest;
  if (!c.bytes(static_cast<uint64_t>(body.size()) - (c.at() - body.data()), &rest)) return false;
  std::string inflated;
  if (raw_len != 0) {
    inflated.resize(raw_len);
    const size_t got = ZSTD_decompress(inflated.data(), raw_len, rest.data(), rest.size());
    if (ZSTD_isError(got) || got != raw_len) return false;
    rest = inflated;
  }
  // A series takes more than 16 bytes, which bounds the count before reserving.
  if (n > rest.size() / 16) return false;
  const size_t before = out->size();
  Cursor s(rest);
  for (uint64_t i = 0; i < n; ++i) {
    Entry e;
    if (!parse_series(s, payload_offset, names, &e) || e.stored_len > UINT64_MAX - payload_offset) {
      out->resize(before);
      return false;
    }
    payload_offset += e.stored_len;
    out->push_back(std::move(e));
  }
  if (!s.done()) {
    out->resize(before);
    return false;
  }
  return true;
}

bool parse_end(std::string_view body, uint64_t* series, std::vector<uint64_t>* replaces) {
  Cursor c(body);
  uint64_t n = 0;
  if (!c.uvarint(series) || !c.uvarint(&n) || n > body.size() / 8) return false;
  replaces->resize(n);
  for (uint64_t& id : *replaces)
    if (!c.fixed(&id)) return false;
  return c.done();
}

}  // namespace fp::block
