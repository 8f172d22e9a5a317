#include "kpi/activity_record.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "storage/wal/crc32c.h"

namespace fp {
namespace {

static_assert(std::endian::native == std::endian::little, "the journal is little-endian");

template <typename T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

// Reads fixed-width values from a payload; every get fails once the bytes run out.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <typename T>
  bool get(T& v) {
    if (in_.size() < sizeof(T)) return false;
    std::memcpy(&v, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return true;
  }
  bool get_bytes(size_t n, std::string& out) {
    if (in_.size() < n) return false;
    out.assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

bool decode_payload(std::string_view payload, ActivityRecord& r) {
  Reader in(payload);
  uint8_t type = 0;
  uint16_t len = 0;
  if (!in.get(type) || !in.get(len) || len > kMaxActivityDeviceBytes ||
      !in.get_bytes(len, r.device))
    return false;
  r.type = static_cast<ActivityRecordType>(type);
  switch (r.type) {
    case ActivityRecordType::kTotals:
      if (!in.get(r.at_ms) || !in.get(r.messages) || !in.get(r.bytes) || !in.get(r.rejected))
        return false;
      break;
    case ActivityRecordType::kResponse:
    case ActivityRecordType::kBattery:
      if (!in.get(r.at_ms) || !in.get(r.value)) return false;
      break;
    case ActivityRecordType::kForget:
      break;
    case ActivityRecordType::kClear:
      if (!r.device.empty()) return false;
      break;
    default:
      return false;
  }
  return in.done();
}

}  // namespace

void append_activity_record(const ActivityRecord& r, std::string& out) {
  std::string payload;
  payload.push_back(static_cast<char>(r.type));
  const size_t len = std::min(r.device.size(), kMaxActivityDeviceBytes);
  put(payload, static_cast<uint16_t>(len));
  payload.append(r.device.data(), len);
  switch (r.type) {
    case ActivityRecordType::kTotals:
      put(payload, r.at_ms);
      put(payload, r.messages);
      put(payload, r.bytes);
      put(payload, r.rejected);
      break;
    case ActivityRecordType::kResponse:
    case ActivityRecordType::kBattery:
      put(payload, r.at_ms);
      put(payload, r.value);
      break;
    case ActivityRecordType::kForget:
    case ActivityRecordType::kClear:
      break;
  }
  put(out, static_cast<uint32_t>(payload.size()));
  put(out, crc32c(payload));
  out += payload;
}

ActivityDecodeResult decode_activity_records(std::string_view data,
                                             const std::function<void(const ActivityRecord&)>& fn) {
  ActivityDecodeResult res;
  ActivityRecord r;
  while (res.valid_bytes < data.size()) {
    const std::string_view rest = data.substr(res.valid_bytes);
    uint32_t n = 0, crc = 0;
    bool ok = rest.size() >= kActivityFrameHeaderSize;
    if (ok) {
      std::memcpy(&n, rest.data(), 4);
      std::memcpy(&crc, rest.data() + 4, 4);
      ok = n >= 3 && n <= kMaxActivityPayloadBytes && rest.size() - kActivityFrameHeaderSize >= n;
    }
    const std::string_view payload = ok ? rest.substr(kActivityFrameHeaderSize, n) : "";
    r = ActivityRecord{};
    if (!ok || crc32c(payload) != crc || !decode_payload(payload, r)) {
      res.clean = false;
      return res;
    }
    fn(r);
    res.valid_bytes += kActivityFrameHeaderSize + n;
    ++res.records;
  }
  return res;
}

}  // namespace fp
