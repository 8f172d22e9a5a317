#include "storage/tsdb/batch_record.h"

#include <cstring>

namespace fp::tsdb {
namespace {

constexpr uint8_t kVersion = 1;

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
uint64_t zigzag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t unzigzag(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}
void put_string(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out.append(s);
}

class Reader {
 public:
  explicit Reader(std::string_view d) : d_(d) {}
  bool varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= d_.size()) return false;
      const auto b = static_cast<uint8_t>(d_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  bool string(std::string_view& s) {
    uint64_t n;
    if (!varint(n) || n > d_.size() - pos_) return false;
    s = d_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool fixed64(uint64_t& v) {
    if (d_.size() - pos_ < 8) return false;
    std::memcpy(&v, d_.data() + pos_, 8);
    pos_ += 8;
    return true;
  }
  bool byte(uint8_t& b) {
    if (pos_ >= d_.size()) return false;
    b = static_cast<uint8_t>(d_[pos_++]);
    return true;
  }
  size_t remaining() const { return d_.size() - pos_; }

 private:
  std::string_view d_;
  size_t pos_ = 0;
};

}  // namespace

void encode_batch_record(const ReadingBatch& b, std::string& out, bool with_attributes) {
  out.reserve(out.size() + 16 + b.points().size() * 14);
  out.push_back(static_cast<char>(kVersion));
  put_varint(out, b.devices().size());
  for (const auto& d : b.devices()) put_string(out, d);
  put_varint(out, b.metrics().size());
  for (const auto& m : b.metrics()) put_string(out, m);
  put_varint(out, b.points().size());
  int64_t prev = 0;
  for (const Point& p : b.points()) {
    put_varint(out, p.device);
    put_varint(out, p.metric);
    put_varint(out, zigzag(static_cast<int64_t>(static_cast<uint64_t>(p.ts_ms) -
                                                static_cast<uint64_t>(prev))));
    prev = p.ts_ms;
    uint64_t bits;
    std::memcpy(&bits, &p.value, 8);
    char buf[8];
    std::memcpy(buf, &bits, 8);  // host order: x86-64 and ARM64 are little-endian
    out.append(buf, 8);
  }
  if (!with_attributes) {
    put_varint(out, 0);
    return;
  }
  put_varint(out, b.attributes().size());
  prev = 0;
  for (const Attribute& a : b.attributes()) {
    put_varint(out, a.device);
    put_string(out, a.key);
    put_string(out, a.value);
    put_varint(out, zigzag(static_cast<int64_t>(static_cast<uint64_t>(a.ts_ms) -
                                                static_cast<uint64_t>(prev))));
    prev = a.ts_ms;
  }
}

Status decode_batch_record_view(std::string_view record, BatchRecordView& out) {
  out.devices.clear();
  out.metrics.clear();
  out.points.clear();
  out.attributes.clear();
  Reader r(record);
  auto bad = [](const char* what) {
    return Status::Corruption(std::string("batch record: ") + what);
  };
  uint8_t version;
  if (!r.byte(version) || version != kVersion) return bad("unknown version");
  uint64_t n;
  std::string_view s;
  if (!r.varint(n) || n > r.remaining()) return bad("device count");
  for (uint64_t i = 0; i < n; ++i) {
    if (!r.string(s)) return bad("device name");
    out.devices.push_back(s);
  }
  const uint64_t n_devices = n;
  if (!r.varint(n) || n > r.remaining()) return bad("metric count");
  for (uint64_t i = 0; i < n; ++i) {
    if (!r.string(s)) return bad("metric name");
    out.metrics.push_back(s);
  }
  const uint64_t n_metrics = n;
  if (!r.varint(n) || n > r.remaining() / 11) return bad("point count");
  out.points.resize(n);
  int64_t ts = 0;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t dev, met, delta, bits;
    if (!r.varint(dev) || !r.varint(met) || !r.varint(delta) || !r.fixed64(bits))
      return bad("truncated point");
    if (dev >= n_devices || met >= n_metrics) return bad("point refers to an unknown name");
    ts = static_cast<int64_t>(static_cast<uint64_t>(ts) + static_cast<uint64_t>(unzigzag(delta)));
    double v;
    std::memcpy(&v, &bits, 8);
    out.points[i] = {static_cast<uint32_t>(dev), static_cast<uint32_t>(met), ts, v};
  }
  if (!r.varint(n) || n > r.remaining()) return bad("attribute count");
  ts = 0;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t dev, delta;
    std::string_view k, v;
    if (!r.varint(dev) || !r.string(k) || !r.string(v) || !r.varint(delta))
      return bad("truncated attribute");
    if (dev >= n_devices) return bad("attribute refers to an unknown device");
    ts = static_cast<int64_t>(static_cast<uint64_t>(ts) + static_cast<uint64_t>(unzigzag(delta)));
    out.attributes.push_back({static_cast<uint32_t>(dev), k, v, ts});
  }
  if (r.remaining() != 0) return bad("trailing bytes");
  return Status::Ok();
}

Status decode_batch_record(std::string_view record, ReadingBatch& out) {
  out.clear();
  BatchRecordView view;
  FP_RETURN_IF_ERROR(decode_batch_record_view(record, view));
  auto bad = [](const char* what) {
    return Status::Corruption(std::string("batch record: ") + what);
  };
  for (size_t i = 0; i < view.devices.size(); ++i)
    if (out.intern_device(view.devices[i]) != i) return bad("duplicate device name");
  for (size_t i = 0; i < view.metrics.size(); ++i)
    if (out.intern_metric(view.metrics[i]) != i) return bad("duplicate metric name");
  out.reserve(view.points.size());
  for (const Point& p : view.points) out.add(p.device, p.metric, p.ts_ms, p.value);
  for (const auto& a : view.attributes)
    out.add_attribute(a.device, std::string(a.key), std::string(a.value), a.ts_ms);
  return Status::Ok();
}

}  // namespace fp::tsdb
