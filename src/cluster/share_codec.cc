#include "cluster/share_codec.h"

#include <simdjson.h>

#include <array>
#include <cstring>
#include <unordered_map>

#include "cluster/partition.h"

namespace fp::cluster {
namespace {

constexpr std::string_view kMagic = "FPS1";
constexpr size_t kMaxString = 1 << 20;

class Writer {
 public:
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u32(uint32_t v) { raw(&v, 4); }
  void i64(int64_t v) { raw(&v, 8); }
  void f64(double v) { raw(&v, 8); }
  void str(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  void bytes(std::string_view s) { out_.append(s); }
  std::string take() { return std::move(out_); }

 private:
  void raw(const void* p, size_t n) {  // the machines we build for are little-endian
    out_.append(static_cast<const char*>(p), n);
  }
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool u8(uint8_t& v) { return raw(&v, 1); }
  bool u32(uint32_t& v) { return raw(&v, 4); }
  bool i64(int64_t& v) { return raw(&v, 8); }
  bool f64(double& v) { return raw(&v, 8); }
  bool str(std::string& s) {
    uint32_t n = 0;
    if (!u32(n) || n > kMaxString || n > in_.size() - pos_) return false;
    s.assign(in_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  // A count of items that take at least `min_bytes` each: refused when the rest cannot hold it.
  bool count(uint32_t& n, size_t min_bytes) {
    return u32(n) && static_cast<uint64_t>(n) * min_bytes <= in_.size() - pos_;
  }
  bool done() const { return pos_ == in_.size(); }

 private:
  bool raw(void* p, size_t n) {
    if (in_.size() - pos_ < n) return false;
    std::memcpy(p, in_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  std::string_view in_;
  size_t pos_ = 0;
};

Status Bad(const std::string& what) {
  return Status::Malformed("damaged cluster share: " + what);
}

// A device change's field bits: 1 << i for DeviceSlots()[i] when present, and this one.
constexpr uint8_t kDevMerge = 32;

// The optional text fields of a device change in their wire order (bits 1, 2, 4, 8, 16).
template <typename Update>
auto DeviceSlots(Update& f) {
  return std::array{&f.name, &f.type, &f.location, &f.metadata_json, &f.config_json};
}

bool IsJsonObject(const std::string& text) {
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  return !parser.parse(text.data(), text.size()).get_object().get(obj);
}

Result<Share> DecodeDevice(Reader& r) {
  Share s;
  s.kind = ShareKind::kDevice;
  DeviceChange& c = s.device;
  uint8_t kind = 0, fields = 0;
  if (!r.u8(kind) || !r.str(c.device_id) || !r.i64(c.at_ms) || !r.u8(fields))
    return Bad("device change truncated");
  if (kind != 'C' && kind != 'P' && kind != 'M') return Bad("device change kind");
  c.kind = static_cast<DeviceChange::Kind>(kind);
  if (!validate_device_id(c.device_id).empty()) return Bad("device change id");
  if (fields & ~uint8_t{63}) return Bad("unknown device change fields");
  DeviceUpdate& f = c.fields;
  f.merge_objects = (fields & kDevMerge) != 0;
  const auto slots = DeviceSlots(f);
  for (size_t i = 0; i < slots.size(); ++i) {
    if (!(fields & (1u << i))) continue;
    std::string text;
    if (!r.str(text)) return Bad("device change truncated");
    if (i >= 3 && !IsJsonObject(text)) return Bad("device change JSON");
    *slots[i] = std::move(text);
  }
  if (!r.done()) return Bad("trailing bytes");
  return s;
}

enum HeartbeatField : uint8_t {
  kDeviceTs = 1,
  kName = 2,
  kBattery = 4,
  kSignal = 8,
  kLocation = 16,
  kGeo = 32,
};

}  // namespace

std::map<uint32_t, std::shared_ptr<ReadingBatch>> SplitByPartition(const ReadingBatch& batch,
                                                                   uint32_t partitions) {
  std::map<uint32_t, std::shared_ptr<ReadingBatch>> out;
  std::vector<uint32_t> part_of(batch.devices().size());
  for (size_t d = 0; d < batch.devices().size(); ++d)
    part_of[d] = PartitionOf(batch.devices()[d], partitions);
  auto share = [&](uint32_t device) -> ReadingBatch& {
    auto& b = out[part_of[device]];
    if (!b) {
      b = std::make_shared<ReadingBatch>();
      b->set_wire_bytes(batch.wire_bytes());  // attributed to each share; KPIs only
    }
    return *b;
  };
  std::vector<bool> unstamped(batch.points().size(), false);
  for (uint32_t i : batch.unstamped())
    if (i < unstamped.size()) unstamped[i] = true;
  // Publisher stamps: +1 ms per earlier unstamped point of the same series in this request.
  std::unordered_map<uint64_t, int64_t> next_offset;
  for (size_t i = 0; i < batch.points().size(); ++i) {
    const Point& p = batch.points()[i];
    ReadingBatch& b = share(p.device);
    int64_t ts = p.ts_ms;
    if (unstamped[i]) ts += next_offset[(static_cast<uint64_t>(p.device) << 32) | p.metric]++;
    b.add(b.intern_device(batch.devices()[p.device]), b.intern_metric(batch.metrics()[p.metric]),
          ts, p.value);
  }
  for (const Attribute& a : batch.attributes()) {
    ReadingBatch& b = share(a.device);
    b.add_attribute(b.intern_device(batch.devices()[a.device]), a.key, a.value, a.ts_ms);
  }
  return out;
}

std::string EncodeTelemetry(const ReadingBatch& batch, int64_t received_ms) {
  Writer w;
  w.bytes(kMagic);
  w.u8(static_cast<uint8_t>(ShareKind::kTelemetry));
  w.i64(received_ms);
  w.u32(static_cast<uint32_t>(batch.wire_bytes()));
  w.u32(static_cast<uint32_t>(batch.devices().size()));
  for (const auto& d : batch.devices()) w.str(d);
  w.u32(static_cast<uint32_t>(batch.metrics().size()));
  for (const auto& m : batch.metrics()) w.str(m);
  w.u32(static_cast<uint32_t>(batch.points().size()));
  for (const Point& p : batch.points()) {
    w.u32(p.device);
    w.u32(p.metric);
    w.i64(p.ts_ms);
    w.f64(p.value);
  }
  w.u32(static_cast<uint32_t>(batch.attributes().size()));
  for (const Attribute& a : batch.attributes()) {
    w.u32(a.device);
    w.str(a.key);
    w.str(a.value);
    w.i64(a.ts_ms);
  }
  return w.take();
}

std::string EncodeHeartbeat(const HeartbeatReport& r) {
  Writer w;
  w.bytes(kMagic);
  w.u8(static_cast<uint8_t>(ShareKind::kHeartbeat));
  w.str(r.device_id);
  w.i64(r.received_ms);
  w.u32(r.wire_bytes);
  uint8_t fields = (r.device_ts_ms ? kDeviceTs : 0) | (r.name ? kName : 0) |
                   (r.battery_level ? kBattery : 0) | (r.signal_strength ? kSignal : 0) |
                   (r.location ? kLocation : 0) | (r.geo ? kGeo : 0);
  w.u8(fields);
  if (r.device_ts_ms) w.i64(*r.device_ts_ms);
  if (r.name) w.str(*r.name);
  if (r.battery_level) w.f64(*r.battery_level);
  if (r.signal_strength) w.f64(*r.signal_strength);
  if (r.location) w.str(*r.location);
  if (r.geo) {
    w.f64(r.geo->lat);
    w.f64(r.geo->lon);
  }
  return w.take();
}

std::string EncodeRemoval(const std::optional<std::string>& device, bool with_data) {
  Writer w;
  w.bytes(kMagic);
  w.u8(static_cast<uint8_t>(ShareKind::kRemoval));
  w.u8(static_cast<uint8_t>((device ? 1 : 0) | (with_data ? 2 : 0)));
  if (device) w.str(*device);
  return w.take();
}

std::string EncodeDeviceChange(const DeviceChange& c) {
  const DeviceUpdate& f = c.fields;
  Writer w;
  w.bytes(kMagic);
  w.u8(static_cast<uint8_t>(ShareKind::kDevice));
  w.u8(static_cast<uint8_t>(c.kind));
  w.str(c.device_id);
  w.i64(c.at_ms);
  const auto slots = DeviceSlots(f);
  uint8_t fields = f.merge_objects ? kDevMerge : 0;
  for (size_t i = 0; i < slots.size(); ++i)
    if (*slots[i]) fields |= static_cast<uint8_t>(1u << i);
  w.u8(fields);
  for (const auto* slot : slots)
    if (*slot) w.str(**slot);
  return w.take();
}

Result<Share> DecodeShare(std::string_view bytes) {
  if (bytes.substr(0, kMagic.size()) != kMagic) return Bad("no FPS1 header");
  Reader r(bytes.substr(kMagic.size()));
  uint8_t kind = 0;
  if (!r.u8(kind)) return Bad("no kind");
  Share s;
  if (kind == static_cast<uint8_t>(ShareKind::kHeartbeat)) {
    s.kind = ShareKind::kHeartbeat;
    HeartbeatReport& h = s.heartbeat;
    uint8_t fields = 0;
    if (!r.str(h.device_id) || !r.i64(h.received_ms) || !r.u32(h.wire_bytes) || !r.u8(fields))
      return Bad("heartbeat truncated");
    if (fields & ~uint8_t{63}) return Bad("unknown heartbeat fields");
    int64_t ts = 0;
    double v = 0, lon = 0;
    std::string text;
    if (fields & kDeviceTs) {
      if (!r.i64(ts)) return Bad("heartbeat truncated");
      h.device_ts_ms = ts;
    }
    if (fields & kName) {
      if (!r.str(text)) return Bad("heartbeat truncated");
      h.name = text;
    }
    if (fields & kBattery) {
      if (!r.f64(v)) return Bad("heartbeat truncated");
      h.battery_level = v;
    }
    if (fields & kSignal) {
      if (!r.f64(v)) return Bad("heartbeat truncated");
      h.signal_strength = v;
    }
    if (fields & kLocation) {
      if (!r.str(text)) return Bad("heartbeat truncated");
      h.location = text;
    }
    if (fields & kGeo) {
      if (!r.f64(v) || !r.f64(lon)) return Bad("heartbeat truncated");
      h.geo = GeoPoint{v, lon};
    }
    if (h.device_id.empty()) return Bad("heartbeat without device id");
    if (!r.done()) return Bad("trailing bytes");
    return s;
  }
  if (kind == static_cast<uint8_t>(ShareKind::kDevice)) return DecodeDevice(r);
  if (kind == static_cast<uint8_t>(ShareKind::kRemoval)) {
    s.kind = ShareKind::kRemoval;
    uint8_t flags = 0;
    std::string id;
    if (!r.u8(flags) || (flags & ~uint8_t{3})) return Bad("removal flags");
    if ((flags & 1) && (!r.str(id) || id.empty())) return Bad("removal device");
    if (flags & 1) s.removed = id;
    s.with_data = (flags & 2) != 0;
    if (!r.done()) return Bad("trailing bytes");
    return s;
  }
  if (kind != static_cast<uint8_t>(ShareKind::kTelemetry)) return Bad("unknown kind");
  s.kind = ShareKind::kTelemetry;
  s.batch = std::make_shared<ReadingBatch>();
  ReadingBatch& b = *s.batch;
  uint32_t wire = 0, n = 0;
  if (!r.i64(s.received_ms) || !r.u32(wire)) return Bad("telemetry truncated");
  b.set_wire_bytes(wire);
  std::string text, text2;
  std::vector<uint32_t> devices, metrics;
  if (!r.count(n, 4)) return Bad("device count");
  for (uint32_t i = 0; i < n; ++i) {
    if (!r.str(text) || text.empty()) return Bad("device id");
    devices.push_back(b.intern_device(text));
  }
  if (!r.count(n, 4)) return Bad("metric count");
  for (uint32_t i = 0; i < n; ++i) {
    if (!r.str(text) || !validate_metric_name(text).empty()) return Bad("metric name");
    metrics.push_back(b.intern_metric(text));
  }
  if (!r.count(n, 24)) return Bad("point count");
  b.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t d = 0, m = 0;
    int64_t ts = 0;
    double v = 0;
    if (!r.u32(d) || !r.u32(m) || !r.i64(ts) || !r.f64(v)) return Bad("point truncated");
    if (d >= devices.size() || m >= metrics.size()) return Bad("point index");
    b.add(devices[d], metrics[m], ts, v);
  }
  if (!r.count(n, 20)) return Bad("attribute count");
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t d = 0;
    int64_t ts = 0;
    if (!r.u32(d) || !r.str(text) || !r.str(text2) || !r.i64(ts)) return Bad("attribute truncated");
    if (d >= devices.size()) return Bad("attribute index");
    b.add_attribute(devices[d], text, text2, ts);
  }
  if (!r.done()) return Bad("trailing bytes");
  return s;
}

}  // namespace fp::cluster
