#pragma once
// The MQTT packet encoder: the packets a server sends (CONNACK, PUBLISH, the four
// acknowledgements, SUBACK, UNSUBACK, PINGRESP, DISCONNECT), in the client's protocol version.
// Each function returns the whole packet, fixed header included. Pure; safe on any thread.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "mqtt/packet_types.h"

namespace fp::mqtt {

// `reason_code` is an MQTT 5 reason code; for 3.1.1 it is mapped to the nearest CONNACK return
// code (0x01 unacceptable version, 0x02 identifier rejected, 0x03 server unavailable, 0x04 bad
// user name or password, 0x05 not authorized). Properties are written only for v5.
std::string encode_connack(Version v, bool session_present, uint8_t reason_code,
                           const Properties& props = {});
std::string encode_publish(Version v, const Publish& p);
// Appends a QoS 0 PUBLISH (no retain, no properties) to `out`, as encode_publish would build it.
void append_publish_qos0(Version v, std::string_view topic, std::string_view payload,
                         std::string& out);
// PUBACK, PUBREC, PUBREL or PUBCOMP. In v5 a success code is left out (the short form).
std::string encode_ack(Version v, PacketType type, uint16_t packet_id, uint8_t reason_code);
// One reason code per filter: the granted QoS, or 0x80 (3.1.1) / an error code (v5).
std::string encode_suback(Version v, uint16_t packet_id, std::span<const uint8_t> codes);
std::string encode_unsuback(Version v, uint16_t packet_id, std::span<const uint8_t> codes);
std::string encode_pingresp();
// Only MQTT 5 has a server DISCONNECT; for 3.1.1 the connection is simply closed.
std::string encode_disconnect(uint8_t reason_code, std::string_view reason_string = {});

// The 3.1.1 CONNACK return code for an MQTT 5 reason code.
uint8_t v311_connack_code(uint8_t reason_code);

}  // namespace fp::mqtt
