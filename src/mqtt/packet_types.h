#pragma once
// MQTT 3.1.1 and 5.0 control packets as values: what the decoder produces and the encoder
// consumes. Only the properties fleetpulse acts on are kept; the others are validated and
// skipped. Reason codes are MQTT 5 numbers; the 3.1.1 CONNACK return codes are mapped from them
// by the encoder.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace fp::mqtt {

enum class PacketType : uint8_t {
  kConnect = 1,
  kConnack = 2,
  kPublish = 3,
  kPuback = 4,
  kPubrec = 5,
  kPubrel = 6,
  kPubcomp = 7,
  kSubscribe = 8,
  kSuback = 9,
  kUnsubscribe = 10,
  kUnsuback = 11,
  kPingreq = 12,
  kPingresp = 13,
  kDisconnect = 14,
  kAuth = 15,
};

// The protocol level byte of CONNECT.
enum class Version : uint8_t { kV311 = 4, kV5 = 5 };

// MQTT 5 reason codes (also used internally for 3.1.1, where they pick the CONNACK return code
// or simply explain why a connection was closed).
namespace reason {
inline constexpr uint8_t kSuccess = 0x00;
inline constexpr uint8_t kGrantedQos1 = 0x01;
inline constexpr uint8_t kGrantedQos2 = 0x02;
inline constexpr uint8_t kDisconnectWithWill = 0x04;
inline constexpr uint8_t kNoMatchingSubscribers = 0x10;
inline constexpr uint8_t kUnspecifiedError = 0x80;
inline constexpr uint8_t kMalformedPacket = 0x81;
inline constexpr uint8_t kProtocolError = 0x82;
inline constexpr uint8_t kImplementationSpecific = 0x83;
inline constexpr uint8_t kUnsupportedProtocolVersion = 0x84;
inline constexpr uint8_t kClientIdNotValid = 0x85;
inline constexpr uint8_t kBadUserNameOrPassword = 0x86;
inline constexpr uint8_t kNotAuthorized = 0x87;
inline constexpr uint8_t kServerUnavailable = 0x88;
inline constexpr uint8_t kServerBusy = 0x89;
inline constexpr uint8_t kBadAuthenticationMethod = 0x8C;
inline constexpr uint8_t kKeepAliveTimeout = 0x8D;
inline constexpr uint8_t kSessionTakenOver = 0x8E;
inline constexpr uint8_t kTopicFilterInvalid = 0x8F;
inline constexpr uint8_t kTopicNameInvalid = 0x90;
inline constexpr uint8_t kPacketIdNotFound = 0x92;
inline constexpr uint8_t kReceiveMaximumExceeded = 0x93;
inline constexpr uint8_t kTopicAliasInvalid = 0x94;
inline constexpr uint8_t kPacketTooLarge = 0x95;
inline constexpr uint8_t kQuotaExceeded = 0x97;
inline constexpr uint8_t kPayloadFormatInvalid = 0x99;
inline constexpr uint8_t kQosNotSupported = 0x9B;
inline constexpr uint8_t kServerShuttingDown = 0x8B;
inline constexpr uint8_t kSharedSubscriptionsNotSupported = 0x9E;
inline constexpr uint8_t kWildcardSubscriptionsNotSupported = 0xA2;
}  // namespace reason

// The MQTT 5 properties fleetpulse reads. Absent ones stay nullopt.
struct Properties {
  std::optional<uint32_t> session_expiry_interval;         // 0x11
  std::optional<uint16_t> receive_maximum;                 // 0x21
  std::optional<uint32_t> maximum_packet_size;             // 0x27
  std::optional<uint16_t> topic_alias;                     // 0x23
  std::optional<uint32_t> will_delay_interval;             // 0x18
  std::optional<std::string> authentication_method;        // 0x15
  std::optional<std::string> reason_string;                // 0x1F
  std::optional<std::string> assigned_client_id;           // 0x12 (server to client)
  std::optional<uint16_t> topic_alias_maximum;             // 0x22
  std::optional<uint8_t> maximum_qos;                      // 0x24 (server to client)
  std::optional<uint8_t> retain_available;                 // 0x25 (server to client)
  std::optional<uint8_t> wildcard_subscription_available;  // 0x28
  std::optional<uint8_t> shared_subscription_available;    // 0x2A
};

struct Will {
  std::string topic;
  std::string payload;
  uint8_t qos = 0;
  bool retain = false;
  Properties properties;
};

struct Connect {
  Version version = Version::kV311;
  std::string client_id;
  bool clean_start = true;  // 3.1.1: clean session
  uint16_t keep_alive_s = 0;
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::optional<Will> will;
  Properties properties;
};

struct Publish {
  std::string topic;
  std::string payload;
  uint8_t qos = 0;
  bool retain = false;
  bool dup = false;
  uint16_t packet_id = 0;  // 0 with QoS 0
  Properties properties;
};

// PUBACK, PUBREC, PUBREL, PUBCOMP.
struct Ack {
  PacketType type = PacketType::kPuback;
  uint16_t packet_id = 0;
  uint8_t reason_code = reason::kSuccess;
};

struct Subscription {
  std::string filter;
  uint8_t max_qos = 0;
  uint8_t options = 0;  // the whole options byte (v5: no-local, retain-as-published, handling)
};

struct Subscribe {
  uint16_t packet_id = 0;
  std::vector<Subscription> subscriptions;
};

struct Unsubscribe {
  uint16_t packet_id = 0;
  std::vector<std::string> filters;
};

struct Disconnect {
  uint8_t reason_code = reason::kSuccess;
  Properties properties;
};

}  // namespace fp::mqtt
