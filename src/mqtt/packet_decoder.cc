#include "mqtt/packet_decoder.h"

#include <bitset>

namespace fp::mqtt {
namespace {

DecodeResult fail(uint8_t reason, std::string message) {
  return DecodeResult{reason, std::move(message)};
}
DecodeResult malformed(std::string message) {
  return fail(reason::kMalformedPacket, std::move(message));
}

// Sequential reads over an untrusted body; every read checks what is left.
class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> data) : data_(data) {}
  size_t left() const { return data_.size() - pos_; }
  bool done() const { return pos_ == data_.size(); }

  bool u8(uint8_t& v) {
    if (left() < 1) return false;
    v = data_[pos_++];
    return true;
  }
  bool u16(uint16_t& v) {
    if (left() < 2) return false;
    v = static_cast<uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool u32(uint32_t& v) {
    if (left() < 4) return false;
    v = (uint32_t{data_[pos_]} << 24) | (uint32_t{data_[pos_ + 1]} << 16) |
        (uint32_t{data_[pos_ + 2]} << 8) | uint32_t{data_[pos_ + 3]};
    pos_ += 4;
    return true;
  }
  // Variable byte integer: at most four bytes, each carrying 7 bits.
  bool varint(uint32_t& v) {
    v = 0;
    for (int i = 0; i < 4; ++i) {
      uint8_t b;
      if (!u8(b)) return false;
      v |= uint32_t{b & 0x7Fu} << (7 * i);
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }
  // Two-byte length then that many bytes.
  bool binary(std::string& out) {
    uint16_t n;
    if (!u16(n) || left() < n) return false;
    out.assign(reinterpret_cast<const char*>(data_.data() + pos_), n);
    pos_ += n;
    return true;
  }
  bool bytes(size_t n, std::span<const uint8_t>& out) {
    if (left() < n) return false;
    out = data_.subspan(pos_, n);
    pos_ += n;
    return true;
  }

 private:
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
};

// A UTF-8 string field: length-prefixed, well-formed, no U+0000.
DecodeResult read_string(ByteReader& r, std::string& out, const char* what) {
  if (!r.binary(out)) return malformed(std::string(what) + " is truncated");
  if (!valid_mqtt_utf8(out)) return malformed(std::string(what) + " is not valid UTF-8");
  return DecodeResult::Ok();
}

// Where a property list appears; each property is allowed in some of these.
enum Context : uint8_t {
  kInConnect = 1 << 0,
  kInWill = 1 << 1,
  kInPublish = 1 << 2,
  kInAck = 1 << 3,
  kInSubscribe = 1 << 4,
  kInUnsubscribe = 1 << 5,
  kInDisconnect = 1 << 6,
};

enum class PropType : uint8_t { kByte, kU16, kU32, kVarint, kString, kBinary, kPair };

struct PropSpec {
  uint8_t id;
  PropType type;
  uint8_t contexts;  // where a client may send it
};

constexpr uint8_t kAll = 0x7F;
constexpr PropSpec kPropSpecs[] = {
    {0x01, PropType::kByte, kInPublish | kInWill},       // payload format indicator
    {0x02, PropType::kU32, kInPublish | kInWill},        // message expiry interval
    {0x03, PropType::kString, kInPublish | kInWill},     // content type
    {0x08, PropType::kString, kInPublish | kInWill},     // response topic
    {0x09, PropType::kBinary, kInPublish | kInWill},     // correlation data
    {0x0B, PropType::kVarint, kInSubscribe},             // subscription identifier
    {0x11, PropType::kU32, kInConnect | kInDisconnect},  // session expiry interval
    {0x15, PropType::kString, kInConnect},               // authentication method
    {0x16, PropType::kBinary, kInConnect},               // authentication data
    {0x17, PropType::kByte, kInConnect},                 // request problem information
    {0x18, PropType::kU32, kInWill},                     // will delay interval
    {0x19, PropType::kByte, kInConnect},                 // request response information
    {0x1C, PropType::kString, kInDisconnect},            // server reference
    {0x1F, PropType::kString, kInAck | kInDisconnect},   // reason string
    {0x21, PropType::kU16, kInConnect},                  // receive maximum
    {0x22, PropType::kU16, kInConnect},                  // topic alias maximum
    {0x23, PropType::kU16, kInPublish},                  // topic alias
    {0x26, PropType::kPair, kAll},                       // user property
    {0x27, PropType::kU32, kInConnect},                  // maximum packet size
};

const PropSpec* find_prop(uint8_t id) {
  for (const auto& p : kPropSpecs)
    if (p.id == id) return &p;
  return nullptr;
}

std::string hex(uint8_t b) {
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("0x") + kHex[b >> 4] + kHex[b & 15];
}

// Reads a v5 property list (length, then properties) into `out`.
DecodeResult read_properties(ByteReader& r, Context ctx, Properties& out) {
  uint32_t len;
  if (!r.varint(len)) return malformed("property length is truncated or too long");
  std::span<const uint8_t> block;
  if (!r.bytes(len, block)) return malformed("properties run past the end of the packet");
  ByteReader p(block);
  std::bitset<256> seen;
  while (!p.done()) {
    uint32_t id32;
    if (!p.varint(id32) || id32 > 0xFF) return malformed("bad property identifier");
    const auto id = static_cast<uint8_t>(id32);
    const PropSpec* spec = find_prop(id);
    if (!spec || !(spec->contexts & ctx))
      return fail(reason::kProtocolError, "property " + hex(id) + " is not allowed here");
    if (id != 0x26 && seen[id])
      return fail(reason::kProtocolError, "property " + hex(id) + " appears twice");
    seen[id] = true;
    uint8_t b = 0;
    uint16_t s = 0;
    uint32_t w = 0;
    std::string text, text2;
    bool ok = true;
    switch (spec->type) {
      case PropType::kByte:
        ok = p.u8(b);
        break;
      case PropType::kU16:
        ok = p.u16(s);
        break;
      case PropType::kU32:
        ok = p.u32(w);
        break;
      case PropType::kVarint:
        ok = p.varint(w);
        break;
      case PropType::kString:
        if (DecodeResult d = read_string(p, text, "property string"); !d.ok()) return d;
        break;
      case PropType::kBinary:
        ok = p.binary(text);
        break;
      case PropType::kPair:
        if (DecodeResult d = read_string(p, text, "user property name"); !d.ok()) return d;
        if (DecodeResult d = read_string(p, text2, "user property value"); !d.ok()) return d;
        break;
    }
    if (!ok) return malformed("property " + hex(id) + " is truncated");
    switch (id) {
      case 0x01:
      case 0x17:
      case 0x19:
        if (b > 1) return fail(reason::kProtocolError, "property " + hex(id) + " must be 0 or 1");
        break;
      case 0x0B:
        if (w == 0) return fail(reason::kProtocolError, "subscription identifier must not be 0");
        break;
      case 0x11:
        out.session_expiry_interval = w;
        break;
      case 0x15:
        out.authentication_method = text;
        break;
      case 0x18:
        out.will_delay_interval = w;
        break;
      case 0x1F:
        out.reason_string = text;
        break;
      case 0x21:
        if (s == 0) return fail(reason::kProtocolError, "receive maximum must not be 0");
        out.receive_maximum = s;
        break;
      case 0x22:
        out.topic_alias_maximum = s;
        break;
      case 0x23:
        out.topic_alias = s;
        break;
      case 0x27:
        if (w == 0) return fail(reason::kProtocolError, "maximum packet size must not be 0");
        out.maximum_packet_size = w;
        break;
      default:
        break;
    }
  }
  return DecodeResult::Ok();
}

bool valid_filter(std::string_view f) {
  if (f.empty() || !valid_mqtt_utf8(f)) return false;
  for (size_t i = 0; i < f.size(); ++i) {
    const char c = f[i];
    const bool starts_level = i == 0 || f[i - 1] == '/';
    const bool ends_level = i + 1 == f.size() || f[i + 1] == '/';
    if (c == '+' && !(starts_level && ends_level)) return false;
    if (c == '#' && !(starts_level && i + 1 == f.size())) return false;
  }
  return true;
}

}  // namespace

bool valid_mqtt_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // the sequence is cut off
    for (size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
      return false;
    i += n + 1;
  }
  return true;
}

bool valid_topic_name(std::string_view topic) {
  return !topic.empty() && topic.find_first_of("+#") == std::string_view::npos &&
         valid_mqtt_utf8(topic);
}

FrameStatus read_frame_header(std::span<const uint8_t> data, size_t max_packet_bytes,
                              FrameHeader& out) {
  if (data.empty()) return FrameStatus::kNeedMore;
  const uint8_t first = data[0];
  if ((first >> 4) == 0) return FrameStatus::kMalformed;
  size_t remaining = 0;
  size_t i = 1;
  for (;; ++i) {
    if (i > 4) return FrameStatus::kMalformed;
    if (i >= data.size()) return FrameStatus::kNeedMore;
    const uint8_t b = data[i];
    remaining |= size_t{b & 0x7Fu} << (7 * (i - 1));
    if ((b & 0x80) == 0) break;
  }
  out.type = static_cast<PacketType>(first >> 4);
  out.flags = first & 0x0F;
  out.header_bytes = i + 1;
  out.remaining = remaining;
  if (out.total() > max_packet_bytes) return FrameStatus::kTooLarge;
  if (data.size() < out.total()) return FrameStatus::kNeedMore;
  return FrameStatus::kComplete;
}

DecodeResult decode_connect(uint8_t flags, std::span<const uint8_t> body, Connect& out) {
  if (flags != 0) return malformed("CONNECT flags must be 0");
  ByteReader r(body);
  std::string protocol;
  if (!r.binary(protocol)) return malformed("protocol name is truncated");
  uint8_t level;
  if (!r.u8(level)) return malformed("protocol level is missing");
  if (protocol != "MQTT" && protocol != "MQIsdp")
    return fail(reason::kUnsupportedProtocolVersion, "unknown protocol name");
  if (level == 5) out.version = Version::kV5;
  if (protocol != "MQTT" || (level != 4 && level != 5))
    return fail(reason::kUnsupportedProtocolVersion,
                "protocol level " + std::to_string(level) + " is not supported (4 or 5)");
  const bool v5 = out.version == Version::kV5;
  uint8_t cf;
  if (!r.u8(cf)) return malformed("connect flags are missing");
  if (cf & 0x01) return malformed("the reserved connect flag must be 0");
  out.clean_start = (cf & 0x02) != 0;
  const bool will = (cf & 0x04) != 0;
  const uint8_t will_qos = (cf >> 3) & 0x03;
  const bool will_retain = (cf & 0x20) != 0;
  const bool has_password = (cf & 0x40) != 0;
  const bool has_username = (cf & 0x80) != 0;
  if (will_qos == 3) return malformed("will QoS 3 is not a QoS");
  if (!will && (will_qos != 0 || will_retain))
    return malformed("will QoS and retain must be 0 without a will");
  if (!v5 && has_password && !has_username)
    return malformed("a password needs a user name in MQTT 3.1.1");
  if (!r.u16(out.keep_alive_s)) return malformed("keep alive is missing");
  if (v5)
    if (DecodeResult d = read_properties(r, kInConnect, out.properties); !d.ok()) return d;
  if (DecodeResult d = read_string(r, out.client_id, "client identifier"); !d.ok()) return d;
  if (will) {
    Will w;
    w.qos = will_qos;
    w.retain = will_retain;
    if (v5)
      if (DecodeResult d = read_properties(r, kInWill, w.properties); !d.ok()) return d;
    if (DecodeResult d = read_string(r, w.topic, "will topic"); !d.ok()) return d;
    if (!valid_topic_name(w.topic))
      return fail(v5 ? reason::kTopicNameInvalid : reason::kMalformedPacket,
                  "will topic is not a valid topic name");
    if (!r.binary(w.payload)) return malformed("will payload is truncated");
    out.will = std::move(w);
  }
  if (has_username) {
    std::string u;
    if (DecodeResult d = read_string(r, u, "user name"); !d.ok()) return d;
    out.username = std::move(u);
  }
  if (has_password) {
    std::string p;
    if (!r.binary(p)) return malformed("password is truncated");
    out.password = std::move(p);
  }
  if (!r.done()) return malformed("CONNECT has bytes after its payload");
  return DecodeResult::Ok();
}

DecodeResult decode_publish(Version v, uint8_t flags, std::span<const uint8_t> body, Publish& out) {
  out.dup = (flags & 0x08) != 0;
  out.qos = (flags >> 1) & 0x03;
  out.retain = (flags & 0x01) != 0;
  if (out.qos == 3) return malformed("PUBLISH QoS 3 is not a QoS");
  if (out.qos == 0 && out.dup) return malformed("DUP must be 0 for QoS 0");
  ByteReader r(body);
  if (DecodeResult d = read_string(r, out.topic, "topic name"); !d.ok()) return d;
  if (out.qos > 0) {
    if (!r.u16(out.packet_id)) return malformed("packet identifier is missing");
    if (out.packet_id == 0) return malformed("packet identifier must not be 0");
  }
  if (v == Version::kV5)
    if (DecodeResult d = read_properties(r, kInPublish, out.properties); !d.ok()) return d;
  if (out.properties.topic_alias)
    return fail(reason::kTopicAliasInvalid, "topic aliases are not accepted (maximum 0)");
  if (out.topic.find_first_of("+#") != std::string::npos)
    return fail(v == Version::kV5 ? reason::kTopicNameInvalid : reason::kMalformedPacket,
                "a topic name must not contain wildcards");
  if (out.topic.empty())
    return fail(v == Version::kV5 ? reason::kProtocolError : reason::kMalformedPacket,
                "the topic name is empty");
  std::span<const uint8_t> payload;
  r.bytes(r.left(), payload);
  out.payload.assign(reinterpret_cast<const char*>(payload.data()), payload.size());
  return DecodeResult::Ok();
}

DecodeResult decode_ack(Version v, PacketType type, uint8_t flags, std::span<const uint8_t> body,
                        Ack& out) {
  const uint8_t want = type == PacketType::kPubrel ? 0x02 : 0x00;
  if (flags != want) return malformed("reserved flags of an acknowledgement are wrong");
  out.type = type;
  ByteReader r(body);
  if (!r.u16(out.packet_id)) return malformed("packet identifier is missing");
  if (out.packet_id == 0) return malformed("packet identifier must not be 0");
  if (v == Version::kV5 && !r.done()) {
    if (!r.u8(out.reason_code)) return malformed("reason code is missing");
    if (!r.done()) {
      Properties ignored;
      if (DecodeResult d = read_properties(r, kInAck, ignored); !d.ok()) return d;
    }
  }
  if (!r.done()) return malformed("acknowledgement has trailing bytes");
  return DecodeResult::Ok();
}

DecodeResult decode_subscribe(Version v, uint8_t flags, std::span<const uint8_t> body,
                              Subscribe& out) {
  if (flags != 0x02) return malformed("SUBSCRIBE flags must be 0010");
  ByteReader r(body);
  if (!r.u16(out.packet_id) || out.packet_id == 0)
    return malformed("packet identifier is missing or 0");
  if (v == Version::kV5) {
    Properties ignored;
    if (DecodeResult d = read_properties(r, kInSubscribe, ignored); !d.ok()) return d;
  }
  while (!r.done()) {
    Subscription s;
    if (DecodeResult d = read_string(r, s.filter, "topic filter"); !d.ok()) return d;
    if (!r.u8(s.options)) return malformed("subscription options are missing");
    s.max_qos = s.options & 0x03;
    if (s.max_qos == 3) return malformed("requested QoS 3 is not a QoS");
    if (v == Version::kV5) {
      if ((s.options & 0xC0) != 0 || ((s.options >> 4) & 0x03) == 3)
        return malformed("reserved subscription option bits are set");
    } else if ((s.options & 0xFC) != 0) {
      return malformed("reserved subscription option bits are set");
    }
    if (!valid_filter(s.filter))
      return malformed("topic filter '" + s.filter + "' is not a valid filter");
    out.subscriptions.push_back(std::move(s));
  }
  if (out.subscriptions.empty())
    return fail(v == Version::kV5 ? reason::kProtocolError : reason::kMalformedPacket,
                "SUBSCRIBE without a topic filter");
  return DecodeResult::Ok();
}

DecodeResult decode_unsubscribe(Version v, uint8_t flags, std::span<const uint8_t> body,
                                Unsubscribe& out) {
  if (flags != 0x02) return malformed("UNSUBSCRIBE flags must be 0010");
  ByteReader r(body);
  if (!r.u16(out.packet_id) || out.packet_id == 0)
    return malformed("packet identifier is missing or 0");
  if (v == Version::kV5) {
    Properties ignored;
    if (DecodeResult d = read_properties(r, kInUnsubscribe, ignored); !d.ok()) return d;
  }
  while (!r.done()) {
    std::string f;
    if (DecodeResult d = read_string(r, f, "topic filter"); !d.ok()) return d;
    out.filters.push_back(std::move(f));
  }
  if (out.filters.empty())
    return fail(v == Version::kV5 ? reason::kProtocolError : reason::kMalformedPacket,
                "UNSUBSCRIBE without a topic filter");
  return DecodeResult::Ok();
}

DecodeResult decode_pingreq(uint8_t flags, std::span<const uint8_t> body) {
  if (flags != 0 || !body.empty()) return malformed("PINGREQ has flags or a body");
  return DecodeResult::Ok();
}

DecodeResult decode_disconnect(Version v, uint8_t flags, std::span<const uint8_t> body,
                               Disconnect& out) {
  if (flags != 0) return malformed("DISCONNECT flags must be 0");
  ByteReader r(body);
  if (v == Version::kV5 && !r.done()) {
    r.u8(out.reason_code);
    if (!r.done())
      if (DecodeResult d = read_properties(r, kInDisconnect, out.properties); !d.ok()) return d;
  }
  if (!r.done()) return malformed("DISCONNECT has trailing bytes");
  return DecodeResult::Ok();
}

}  // namespace fp::mqtt
