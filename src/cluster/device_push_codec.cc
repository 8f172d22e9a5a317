#include "cluster/device_push_codec.h"

namespace fp::cluster {
namespace {

constexpr char kPushTag = 'P';
constexpr char kAnswerTag = 'A';
constexpr char kVersion = 1;

void put_u64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

void put_field(std::string& out, std::string_view f) {
  const auto n = static_cast<uint32_t>(f.size());
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(n >> shift));
  out.append(f);
}

// Reads from the front of `in`; each getter fails (false) instead of reading past the end.
struct Reader {
  std::string_view in;

  bool u64(uint64_t& v) {
    if (in.size() < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
    in.remove_prefix(8);
    return true;
  }
  bool field(std::string& f) {
    if (in.size() < 4) return false;
    uint32_t n = 0;
    for (int i = 0; i < 4; ++i) n = (n << 8) | static_cast<uint8_t>(in[i]);
    in.remove_prefix(4);
    if (in.size() < n) return false;
    f.assign(in.substr(0, n));
    in.remove_prefix(n);
    return true;
  }
};

}  // namespace

std::string EncodeDevicePush(const DevicePush& p) {
  std::string out;
  out.reserve(15 + p.origin.size() + p.device_id.size() + p.payload.size());
  out.push_back(kPushTag);
  out.push_back(kVersion);
  out.push_back(static_cast<char>(p.kind));
  put_field(out, p.origin);
  put_field(out, p.device_id);
  put_field(out, p.payload);
  return out;
}

Result<DevicePush> DecodeDevicePush(std::string_view bytes) {
  if (bytes.size() < 3 || bytes[0] != kPushTag || bytes[1] != kVersion)
    return Status::Malformed("device push: bad header");
  DevicePush p;
  if (bytes[2] == static_cast<char>(DevicePush::Kind::kConfig))
    p.kind = DevicePush::Kind::kConfig;
  else if (bytes[2] == static_cast<char>(DevicePush::Kind::kCommand))
    p.kind = DevicePush::Kind::kCommand;
  else
    return Status::Malformed("device push: unknown kind");
  Reader r{bytes.substr(3)};
  if (!r.field(p.origin) || !r.field(p.device_id) || !r.field(p.payload))
    return Status::Malformed("device push: truncated");
  if (!r.in.empty()) return Status::Malformed("device push: trailing bytes");
  if (p.device_id.empty()) return Status::Malformed("device push: no device id");
  return p;
}

std::string EncodeCommandDelivery(const CommandDelivery& d) {
  std::string out;
  out.reserve(30 + d.node.size());
  out.push_back(kAnswerTag);
  out.push_back(kVersion);
  put_u64(out, static_cast<uint64_t>(d.command_id));
  put_u64(out, d.delivered_to);
  put_u64(out, static_cast<uint64_t>(d.expires_at_ms));
  put_field(out, d.node);
  return out;
}

Result<CommandDelivery> DecodeCommandDelivery(std::string_view bytes) {
  if (bytes.size() < 2 || bytes[0] != kAnswerTag || bytes[1] != kVersion)
    return Status::Malformed("command delivery: bad header");
  CommandDelivery d;
  Reader r{bytes.substr(2)};
  uint64_t id = 0;
  uint64_t expires = 0;
  if (!r.u64(id) || !r.u64(d.delivered_to) || !r.u64(expires) || !r.field(d.node))
    return Status::Malformed("command delivery: truncated");
  if (!r.in.empty()) return Status::Malformed("command delivery: trailing bytes");
  d.command_id = static_cast<int64_t>(id);
  d.expires_at_ms = static_cast<int64_t>(expires);
  return d;
}

}  // namespace fp::cluster
