// Fuzzes WAL recovery: arbitrary bytes as segment files must be replayed in strictly
// increasing LSN order, damage skipped (resync) and only a torn tail cut, never crash or hang,
// and leave a WAL that a second recovery replays identically with nothing more to cut. Intact
// framed input is replayed whole; a torn (truncated) one loses only its tail. The only error
// allowed is kCorruption for a segment header of another format version.
//
// Input: byte 0 picks the mode, byte 1 the checkpoint LSN, the rest is the body.
//   mode & 3 == 0: the body is one segment file, as is.
//   mode & 3 == 1: a valid header for LSN 1, then the body.
//   mode & 3 == 2: body[2..] is split into payloads at '\n' and framed as valid records; then
//                  body[0..1] pick a bit to flip (if mode & 4) and how many bytes to cut off.
//   mode & 3 == 3: body[1..] is split at body[0] into two segments of valid records, the
//                  second one continuing the LSNs (or leaving a gap if mode & 16); then a
//                  bit of the second one is flipped if mode & 4.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/fs/fault_injecting_file_system.h"
#include "storage/wal/wal_format.h"
#include "storage/wal/wal_recovery.h"

namespace {

constexpr const char* kDir = "/wal";

std::string segment_path(uint64_t first_lsn) {
  return std::string(kDir) + "/" + fp::wal::segment_file_name(first_lsn);
}

// A segment whose records are `data` split at '\n', numbered from first_lsn.
std::string framed_segment(std::string_view data, uint64_t first_lsn, uint64_t* next_lsn) {
  std::string out;
  fp::wal::append_segment_header(first_lsn, out);
  uint64_t lsn = first_lsn;
  size_t start = 0;
  for (size_t i = 0; i <= data.size(); ++i) {
    if (i == data.size() || data[i] == '\n') {
      fp::wal::append_record(lsn++, data.substr(start, i - start), out);
      start = i + 1;
    }
  }
  *next_lsn = lsn;
  return out;
}

void flip_bit(std::string& s, size_t bit) {
  if (bit / 8 < s.size()) s[bit / 8] = static_cast<char>(s[bit / 8] ^ (1 << (bit % 8)));
}

std::vector<std::pair<uint64_t, std::string>> replay(fp::FileSystem& fs, uint64_t from_lsn,
                                                     bool* cut, bool* unreadable) {
  std::vector<std::pair<uint64_t, std::string>> records;
  auto r = fp::recover_wal(fs, kDir, from_lsn, [&](uint64_t lsn, std::string_view payload) {
    records.emplace_back(lsn, std::string(payload));
    return fp::Status::Ok();
  });
  // The in-memory file system never fails; the one error is a segment of another version.
  if (!r.ok() && r.status().code() != fp::StatusCode::kCorruption) __builtin_trap();
  if (!r.ok()) {
    *unreadable = true;
    return records;
  }
  if (r->next_lsn < from_lsn) __builtin_trap();
  *cut = r->cut.has_value();
  return records;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t mode = data[0];
  const uint64_t from_lsn = data[1] % 8;
  std::string_view body(reinterpret_cast<const char*>(data) + 2, size - 2);

  fp::FaultInjectingFileSystem fs;
  uint64_t next = 0;
  bool truncated = false;  // mode 2 cut bytes off the end (perhaps whole records, undetectably)
  switch (mode & 3) {
    case 0:
      fs.put_file(segment_path(1), std::string(body));
      break;
    case 1: {
      std::string seg;
      fp::wal::append_segment_header(1, seg);
      fs.put_file(segment_path(1), seg.append(body));
      break;
    }
    case 2: {
      if (body.size() < 2) return 0;
      std::string seg = framed_segment(body.substr(2), 1, &next);
      uint8_t b0 = static_cast<uint8_t>(body[0]);
      uint8_t b1 = static_cast<uint8_t>(body[1]);
      if (mode & 4) flip_bit(seg, size_t{b0} * 8 + (b1 & 7));
      truncated = (b1 >> 3) != 0;
      seg.resize(seg.size() - std::min<size_t>(seg.size(), b1 >> 3));
      fs.put_file(segment_path(1), seg);
      break;
    }
    default: {
      if (body.empty()) return 0;
      size_t split = std::min<size_t>(static_cast<uint8_t>(body[0]), body.size() - 1);
      fs.put_file(segment_path(1), framed_segment(body.substr(1, split), 1, &next));
      uint64_t second_lsn = next + ((mode & 16) ? 1 : 0);
      std::string seg = framed_segment(body.substr(1 + split), second_lsn, &next);
      if (mode & 4) flip_bit(seg, static_cast<size_t>(mode >> 5) * 97);
      fs.put_file(segment_path(second_lsn), seg);
      break;
    }
  }

  bool cut = false;
  bool unreadable = false;
  auto first = replay(fs, from_lsn, &cut, &unreadable);
  if (unreadable) return 0;
  for (size_t i = 1; i < first.size(); ++i) {
    if (first[i].first <= first[i - 1].first) __builtin_trap();
  }
  // Valid records with nothing flipped: every one at or after the checkpoint is replayed (a
  // cut tail loses only records after the last one replayed).
  const bool intact = (mode & 3) >= 2 && !(mode & 4);
  if (intact && (mode & 3) == 3 && !(mode & 16) && !first.empty()) {
    for (size_t i = 1; i < first.size(); ++i)
      if (first[i].first != first[i - 1].first + 1) __builtin_trap();
  }
  if (intact && (mode & 3) == 2 && !truncated) {
    const uint64_t want =
        next > std::max<uint64_t>(from_lsn, 1) ? next - std::max<uint64_t>(from_lsn, 1) : 0;
    if (first.size() != want) __builtin_trap();
  }
  bool cut_again = false;
  auto second = replay(fs, from_lsn, &cut_again, &unreadable);
  if (unreadable || cut_again || second != first) __builtin_trap();
  return 0;
}
