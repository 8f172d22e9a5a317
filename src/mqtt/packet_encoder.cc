#include "mqtt/packet_encoder.h"

namespace fp::mqtt {
namespace {

void put_u16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xFF));
}
void put_u32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xFF));
}
void put_varint(std::string& out, size_t v) {
  do {
    uint8_t b = v & 0x7F;
    v >>= 7;
    if (v) b |= 0x80;
    out.push_back(static_cast<char>(b));
  } while (v);
}
void put_string(std::string& out, std::string_view s) {
  put_u16(out, static_cast<uint16_t>(s.size()));
  out.append(s);
}

// Fixed header + body.
std::string frame(uint8_t first, const std::string& body) {
  std::string out;
  out.reserve(body.size() + 5);
  out.push_back(static_cast<char>(first));
  put_varint(out, body.size());
  out += body;
  return out;
}

std::string encode_properties(const Properties& p) {
  std::string b;
  if (p.session_expiry_interval) {
    b.push_back(0x11);
    put_u32(b, *p.session_expiry_interval);
  }
  if (p.assigned_client_id) {
    b.push_back(0x12);
    put_string(b, *p.assigned_client_id);
  }
  if (p.reason_string) {
    b.push_back(0x1F);
    put_string(b, *p.reason_string);
  }
  if (p.receive_maximum) {
    b.push_back(0x21);
    put_u16(b, *p.receive_maximum);
  }
  if (p.topic_alias_maximum) {
    b.push_back(0x22);
    put_u16(b, *p.topic_alias_maximum);
  }
  if (p.maximum_qos) {
    b.push_back(0x24);
    b.push_back(static_cast<char>(*p.maximum_qos));
  }
  if (p.retain_available) {
    b.push_back(0x25);
    b.push_back(static_cast<char>(*p.retain_available));
  }
  if (p.maximum_packet_size) {
    b.push_back(0x27);
    put_u32(b, *p.maximum_packet_size);
  }
  if (p.wildcard_subscription_available) {
    b.push_back(0x28);
    b.push_back(static_cast<char>(*p.wildcard_subscription_available));
  }
  if (p.shared_subscription_available) {
    b.push_back(0x2A);
    b.push_back(static_cast<char>(*p.shared_subscription_available));
  }
  std::string out;
  put_varint(out, b.size());
  return out + b;
}

}  // namespace

uint8_t v311_connack_code(uint8_t reason_code) {
  switch (reason_code) {
    case reason::kSuccess:
      return 0x00;
    case reason::kUnsupportedProtocolVersion:
      return 0x01;
    case reason::kClientIdNotValid:
      return 0x02;
    case reason::kBadUserNameOrPassword:
      return 0x04;
    case reason::kNotAuthorized:
      return 0x05;
    default:
      return 0x03;  // server unavailable
  }
}

std::string encode_connack(Version v, bool session_present, uint8_t reason_code,
                           const Properties& props) {
  std::string body;
  body.push_back(session_present && reason_code == reason::kSuccess ? 1 : 0);
  if (v == Version::kV5) {
    body.push_back(static_cast<char>(reason_code));
    body += encode_properties(props);
  } else {
    body.push_back(static_cast<char>(v311_connack_code(reason_code)));
  }
  return frame(0x20, body);
}

std::string encode_publish(Version v, const Publish& p) {
  std::string body;
  put_string(body, p.topic);
  if (p.qos > 0) put_u16(body, p.packet_id);
  if (v == Version::kV5) body.push_back(0);  // no properties
  body += p.payload;
  const uint8_t first =
      static_cast<uint8_t>(0x30 | (p.dup ? 0x08 : 0) | (p.qos << 1) | (p.retain ? 0x01 : 0));
  return frame(first, body);
}

void append_publish_qos0(Version v, std::string_view topic, std::string_view payload,
                         std::string& out) {
  const size_t remaining = 2 + topic.size() + (v == Version::kV5 ? 1 : 0) + payload.size();
  out.push_back(static_cast<char>(0x30));
  put_varint(out, remaining);
  put_string(out, topic);
  if (v == Version::kV5) out.push_back(0);  // no properties
  out.append(payload);
}

std::string encode_ack(Version v, PacketType type, uint16_t packet_id, uint8_t reason_code) {
  std::string body;
  put_u16(body, packet_id);
  if (v == Version::kV5 && reason_code != reason::kSuccess)
    body.push_back(static_cast<char>(reason_code));
  const uint8_t flags = type == PacketType::kPubrel ? 0x02 : 0x00;
  return frame(static_cast<uint8_t>((static_cast<uint8_t>(type) << 4) | flags), body);
}

std::string encode_suback(Version v, uint16_t packet_id, std::span<const uint8_t> codes) {
  std::string body;
  put_u16(body, packet_id);
  if (v == Version::kV5) body.push_back(0);
  for (uint8_t c : codes) body.push_back(static_cast<char>(v == Version::kV5 || c <= 2 ? c : 0x80));
  return frame(0x90, body);
}

std::string encode_unsuback(Version v, uint16_t packet_id, std::span<const uint8_t> codes) {
  std::string body;
  put_u16(body, packet_id);
  if (v == Version::kV5) {
    body.push_back(0);
    for (uint8_t c : codes) body.push_back(static_cast<char>(c));
  }
  return frame(0xB0, body);
}

std::string encode_pingresp() {
  return std::string("\xD0\x00", 2);
}

std::string encode_disconnect(uint8_t reason_code, std::string_view reason_string) {
  std::string body;
  body.push_back(static_cast<char>(reason_code));
  Properties p;
  if (!reason_string.empty()) p.reason_string = std::string(reason_string);
  body += encode_properties(p);
  return frame(0xE0, body);
}

}  // namespace fp::mqtt
