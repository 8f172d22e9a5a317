#pragma once
// The MQTT packet decoder: splits a byte stream into frames and decodes each control packet a
// server receives (CONNECT, PUBLISH, PUBACK/PUBREC/PUBREL/PUBCOMP, SUBSCRIBE, UNSUBSCRIBE,
// PINGREQ, DISCONNECT) for MQTT 3.1.1 and 5.0. Everything it reads is untrusted: every length
// is checked against what is left, strings must be well-formed UTF-8 without U+0000, reserved
// flag bits must be as the specification requires, and v5 properties must be known, allowed in
// the packet and not repeated. A failure names the MQTT 5 reason code to close the connection
// with (0x81 malformed, 0x82 protocol error, 0x95 packet too large, ...).
//
// Pure functions; safe on any thread.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "mqtt/packet_types.h"

namespace fp::mqtt {

struct FrameHeader {
  PacketType type = PacketType::kConnect;
  uint8_t flags = 0;        // the low four bits of the first byte
  size_t header_bytes = 0;  // first byte plus the remaining-length bytes
  size_t remaining = 0;     // bytes after the fixed header
  size_t total() const { return header_bytes + remaining; }
};

enum class FrameStatus {
  kComplete,   // `out` describes a whole packet at the start of the buffer
  kNeedMore,   // more bytes are needed to know (or to hold) the whole packet
  kMalformed,  // packet type 0, or a remaining length longer than four bytes
  kTooLarge,   // the packet would exceed `max_packet_bytes`
};

// Reads the fixed header at the start of `data`. kComplete only when the whole packet
// (header and body) is in `data`.
FrameStatus read_frame_header(std::span<const uint8_t> data, size_t max_packet_bytes,
                              FrameHeader& out);

// Why a packet was refused: an MQTT 5 reason code and a message for logs. reason 0 is success.
struct DecodeResult {
  uint8_t reason = reason::kSuccess;
  std::string message;
  bool ok() const { return reason == reason::kSuccess; }
  static DecodeResult Ok() { return {}; }
};

// Each decoder takes the fixed header's flags and the packet body (after the fixed header).
// decode_connect sets out.version as soon as it is known, so a refusal can be answered in
// the client's protocol version.
DecodeResult decode_connect(uint8_t flags, std::span<const uint8_t> body, Connect& out);
DecodeResult decode_publish(Version v, uint8_t flags, std::span<const uint8_t> body, Publish& out);
// PUBACK, PUBREC, PUBREL or PUBCOMP (`type` says which).
DecodeResult decode_ack(Version v, PacketType type, uint8_t flags, std::span<const uint8_t> body,
                        Ack& out);
DecodeResult decode_subscribe(Version v, uint8_t flags, std::span<const uint8_t> body,
                              Subscribe& out);
DecodeResult decode_unsubscribe(Version v, uint8_t flags, std::span<const uint8_t> body,
                                Unsubscribe& out);
// PINGREQ (no body allowed).
DecodeResult decode_pingreq(uint8_t flags, std::span<const uint8_t> body);
DecodeResult decode_disconnect(Version v, uint8_t flags, std::span<const uint8_t> body,
                               Disconnect& out);

// Whether `s` is well-formed UTF-8 without U+0000 (MQTT-1.5.3-1, -2).
bool valid_mqtt_utf8(std::string_view s);
// A topic name a client may publish to: non-empty, valid UTF-8, no '+' or '#'.
bool valid_topic_name(std::string_view topic);

}  // namespace fp::mqtt
