// The MQTT codec as a spec: framing, each packet's decoding for 3.1.1 and 5.0, the reason code
// of each refusal, and the encoder's output byte for byte.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mqtt/packet_decoder.h"
#include "mqtt/packet_encoder.h"
#include "mqtt/topic_templates.h"

namespace fp::mqtt {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes bytes(std::string_view s) {
  return Bytes(s.begin(), s.end());
}
std::span<const uint8_t> span(const Bytes& b) {
  return {b.data(), b.size()};
}
std::span<const uint8_t> span(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

Bytes str(std::string_view s) {
  Bytes b;
  b.reserve(s.size() + 2);
  b.push_back(static_cast<uint8_t>(s.size() >> 8));
  b.push_back(static_cast<uint8_t>(s.size() & 0xFF));
  for (char c : s) b.push_back(static_cast<uint8_t>(c));
  return b;
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  size_t total = 0;
  for (const auto& p : parts) total += p.size();
  out.reserve(total);
  for (const auto& p : parts)
    for (uint8_t b : p) out.push_back(b);
  return out;
}

class ForEachVersion : public ::testing::TestWithParam<Version> {};
INSTANTIATE_TEST_SUITE_P(Mqtt, ForEachVersion, ::testing::Values(Version::kV311, Version::kV5),
                         [](const auto& info) {
                           return info.param == Version::kV5 ? "v5" : "v311";
                         });

Bytes connect_body(Version v, uint8_t flags, std::string_view client_id) {
  Bytes b = cat({str("MQTT"), {static_cast<uint8_t>(v), flags, 0x00, 0x3C}});
  if (v == Version::kV5) b.push_back(0);
  return cat({b, str(client_id)});
}

TEST(FrameHeader, CompletePacketReportsTypeFlagsAndLengths) {
  const Bytes b = {0x32, 0x03, 1, 2, 3, 0xFF};
  FrameHeader h;
  ASSERT_EQ(read_frame_header(span(b), 100, h), FrameStatus::kComplete);
  EXPECT_EQ(h.type, PacketType::kPublish);
  EXPECT_EQ(h.flags, 0x02);
  EXPECT_EQ(h.header_bytes, 2u);
  EXPECT_EQ(h.remaining, 3u);
}

TEST(FrameHeader, PartialLengthOrBodyNeedsMore) {
  FrameHeader h;
  const Bytes partial_len = {0x30, 0x80};
  EXPECT_EQ(read_frame_header(span(partial_len), 1000, h), FrameStatus::kNeedMore);
  const Bytes partial_body = {0x30, 0x05, 1, 2};
  EXPECT_EQ(read_frame_header(span(partial_body), 1000, h), FrameStatus::kNeedMore);
}

TEST(FrameHeader, FiveLengthBytesAreMalformed) {
  FrameHeader h;
  const Bytes b = {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F};
  EXPECT_EQ(read_frame_header(span(b), SIZE_MAX, h), FrameStatus::kMalformed);
}

TEST(FrameHeader, LargestFourByteLengthIsRead) {
  FrameHeader h;
  const Bytes b = {0x30, 0xFF, 0xFF, 0xFF, 0x7F};
  EXPECT_EQ(read_frame_header(span(b), SIZE_MAX, h), FrameStatus::kNeedMore);
  EXPECT_EQ(h.remaining, 268'435'455u);
}

TEST(FrameHeader, TooLargeIsKnownBeforeTheBodyArrives) {
  FrameHeader h;
  const Bytes b = {0x30, 0x80, 0x08};  // 1024 bytes announced
  EXPECT_EQ(read_frame_header(span(b), 512, h), FrameStatus::kTooLarge);
}

TEST(FrameHeader, TypeZeroIsMalformed) {
  FrameHeader h;
  const Bytes b = {0x00, 0x00};
  EXPECT_EQ(read_frame_header(span(b), 100, h), FrameStatus::kMalformed);
}

TEST_P(ForEachVersion, ConnectDecodesEveryField) {
  const Version v = GetParam();
  Bytes b = cat(
      {str("MQTT"), {static_cast<uint8_t>(v), 0xEE, 0x00, 0x0A}});  // user, pw, will qos1 retain
  if (v == Version::kV5) b = cat({b, {5, 0x11, 0, 0, 0, 60}});
  b = cat({b, str("client-1")});
  if (v == Version::kV5) b.push_back(0);  // will properties
  b = cat({b, str("devices/d/telemetry"), str("{\"a\":0}"), str("dev"), str("secret")});
  Connect c;
  ASSERT_TRUE(decode_connect(0, span(b), c).ok());
  EXPECT_EQ(c.version, v);
  EXPECT_EQ(c.client_id, "client-1");
  EXPECT_TRUE(c.clean_start);
  EXPECT_EQ(c.keep_alive_s, 10);
  EXPECT_EQ(c.username, "dev");
  EXPECT_EQ(c.password, "secret");
  ASSERT_TRUE(c.will.has_value());
  EXPECT_EQ(c.will->topic, "devices/d/telemetry");
  EXPECT_EQ(c.will->payload, "{\"a\":0}");
  EXPECT_EQ(c.will->qos, 1);
  EXPECT_TRUE(c.will->retain);
  if (v == Version::kV5) {
    EXPECT_EQ(c.properties.session_expiry_interval, 60u);
  }
}

TEST(Connect, UnknownLevelIsUnsupportedVersion) {
  Bytes b = cat({str("MQTT"), {3, 0x02, 0, 0}, str("c")});
  Connect c;
  EXPECT_EQ(decode_connect(0, span(b), c).reason, reason::kUnsupportedProtocolVersion);
  b = cat({str("MQIsdp"), {3, 0x02, 0, 0}, str("c")});
  EXPECT_EQ(decode_connect(0, span(b), c).reason, reason::kUnsupportedProtocolVersion);
}

TEST_P(ForEachVersion, ConnectReservedFlagIsMalformed) {
  Connect c;
  EXPECT_EQ(decode_connect(0, span(connect_body(GetParam(), 0x03, "c")), c).reason,
            reason::kMalformedPacket);
}

TEST_P(ForEachVersion, ConnectWillQosWithoutWillIsMalformed) {
  Connect c;
  EXPECT_EQ(decode_connect(0, span(connect_body(GetParam(), 0x0A, "c")), c).reason,
            reason::kMalformedPacket);
}

TEST_P(ForEachVersion, ConnectTrailingBytesAreMalformed) {
  Bytes b = connect_body(GetParam(), 0x02, "c");
  b.push_back(0);
  Connect c;
  EXPECT_EQ(decode_connect(0, span(b), c).reason, reason::kMalformedPacket);
}

TEST(Connect, V311PasswordWithoutUserNameIsMalformed) {
  Bytes b = cat({connect_body(Version::kV311, 0x42, "c"), str("pw")});
  Connect c;
  EXPECT_EQ(decode_connect(0, span(b), c).reason, reason::kMalformedPacket);
}

TEST(Connect, V5ZeroReceiveMaximumIsAProtocolError) {
  Bytes b = cat({str("MQTT"), {5, 0x02, 0, 0, 3, 0x21, 0, 0}, str("c")});
  Connect c;
  EXPECT_EQ(decode_connect(0, span(b), c).reason, reason::kProtocolError);
}

TEST(Connect, V5PropertyNotAllowedInConnectIsAProtocolError) {
  Bytes b = cat({str("MQTT"), {5, 0x02, 0, 0, 3, 0x23, 0, 1}, str("c")});  // topic alias
  Connect c;
  EXPECT_EQ(decode_connect(0, span(b), c).reason, reason::kProtocolError);
}

TEST(Connect, ClientIdThatIsNotUtf8IsMalformed) {
  Connect c;
  EXPECT_EQ(decode_connect(0, span(connect_body(Version::kV311, 0x02, "\xC0\x80")), c).reason,
            reason::kMalformedPacket);
}

TEST_P(ForEachVersion, PublishQos1DecodesTopicIdAndPayload) {
  const Version v = GetParam();
  Bytes b = cat({str("devices/d1/telemetry"), {0x00, 0x2A}});
  if (v == Version::kV5) b.push_back(0);
  b = cat({b, bytes("{\"t\":1}")});
  Publish p;
  ASSERT_TRUE(decode_publish(v, 0x0B, span(b), p).ok());  // dup, qos 1, retain
  EXPECT_EQ(p.topic, "devices/d1/telemetry");
  EXPECT_EQ(p.packet_id, 42);
  EXPECT_EQ(p.qos, 1);
  EXPECT_TRUE(p.dup);
  EXPECT_TRUE(p.retain);
  EXPECT_EQ(p.payload, "{\"t\":1}");
}

TEST_P(ForEachVersion, PublishRefusals) {
  const Version v = GetParam();
  const bool v5 = v == Version::kV5;
  auto code = [&](uint8_t flags, Bytes body) {
    Publish p;
    return decode_publish(v, flags, span(body), p).reason;
  };
  const Bytes no_props = v5 ? Bytes{0} : Bytes{};
  EXPECT_EQ(code(0x06, cat({str("a"), {0, 1}, no_props})), reason::kMalformedPacket);  // QoS 3
  EXPECT_EQ(code(0x08, cat({str("a"), no_props})), reason::kMalformedPacket);          // QoS 0 dup
  EXPECT_EQ(code(0x02, cat({str("a"), {0, 0}, no_props})), reason::kMalformedPacket);  // id 0
  EXPECT_EQ(code(0x00, cat({str("a/+"), no_props})),
            v5 ? reason::kTopicNameInvalid : reason::kMalformedPacket);
  EXPECT_EQ(code(0x00, cat({str(""), no_props})),
            v5 ? reason::kProtocolError : reason::kMalformedPacket);
  EXPECT_EQ(code(0x00, Bytes{0x00, 0x09, 'a'}), reason::kMalformedPacket);  // topic cut off
}

TEST(Publish, V5DuplicatePropertyIsAProtocolErrorAndUserPropertiesMayRepeat) {
  Publish p;
  Bytes dup = cat({str("a"), {10, 0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 1}});
  EXPECT_EQ(decode_publish(Version::kV5, 0, span(dup), p).reason, reason::kProtocolError);
  Bytes user = cat({str("a"), {14}, {0x26}, str("k"), str("v"), {0x26}, str("k"), str("v")});
  EXPECT_TRUE(decode_publish(Version::kV5, 0, span(user), p).ok());
}

TEST(Publish, V5TopicAliasIsRefusedSinceTheMaximumIsZero) {
  Publish p;
  Bytes b = cat({str("a"), {3, 0x23, 0, 1}});
  EXPECT_EQ(decode_publish(Version::kV5, 0, span(b), p).reason, reason::kTopicAliasInvalid);
}

TEST(Publish, V5PropertiesLongerThanThePacketAreMalformed) {
  Publish p;
  Bytes b = cat({str("a"), {9, 0x01}});
  EXPECT_EQ(decode_publish(Version::kV5, 0, span(b), p).reason, reason::kMalformedPacket);
}

TEST_P(ForEachVersion, AcksNeedTheirReservedFlags) {
  Ack a;
  const Bytes id = {0, 7};
  EXPECT_TRUE(decode_ack(GetParam(), PacketType::kPubrel, 0x02, span(id), a).ok());
  EXPECT_EQ(a.packet_id, 7);
  EXPECT_EQ(decode_ack(GetParam(), PacketType::kPubrel, 0x00, span(id), a).reason,
            reason::kMalformedPacket);
  EXPECT_EQ(decode_ack(GetParam(), PacketType::kPuback, 0x02, span(id), a).reason,
            reason::kMalformedPacket);
}

TEST_P(ForEachVersion, SubscribeReadsFiltersAndQos) {
  const Version v = GetParam();
  Bytes b = {0, 5};
  if (v == Version::kV5) b.push_back(0);
  b = cat({b, str("devices/d/config"), {1}, str("devices/d/commands"), {0}});
  Subscribe s;
  ASSERT_TRUE(decode_subscribe(v, 0x02, span(b), s).ok());
  ASSERT_EQ(s.subscriptions.size(), 2u);
  EXPECT_EQ(s.subscriptions[0].filter, "devices/d/config");
  EXPECT_EQ(s.subscriptions[0].max_qos, 1);
  EXPECT_EQ(s.subscriptions[1].max_qos, 0);
}

TEST_P(ForEachVersion, SubscribeBadFiltersAndOptionsAreMalformed) {
  const Version v = GetParam();
  const Bytes head = v == Version::kV5 ? Bytes{0, 5, 0} : Bytes{0, 5};
  Subscribe s;
  for (const char* f : {"a/#/b", "a+", "#a"})
    EXPECT_EQ(decode_subscribe(v, 0x02, span(cat({head, str(f), {0}})), s).reason,
              reason::kMalformedPacket)
        << f;
  EXPECT_EQ(decode_subscribe(v, 0x02, span(cat({head, str("a"), {3}})), s).reason,
            reason::kMalformedPacket);
  EXPECT_EQ(decode_subscribe(v, 0x02, span(cat({head, str("a"), {0xC0}})), s).reason,
            reason::kMalformedPacket);
  EXPECT_EQ(decode_subscribe(v, 0x00, span(cat({head, str("a"), {0}})), s).reason,
            reason::kMalformedPacket);
}

TEST(Disconnect, V5ReasonAndSessionExpiryAreRead) {
  Disconnect d;
  const Bytes b = {0x04, 5, 0x11, 0, 0, 0, 9};
  ASSERT_TRUE(decode_disconnect(Version::kV5, 0, span(b), d).ok());
  EXPECT_EQ(d.reason_code, reason::kDisconnectWithWill);
  EXPECT_EQ(d.properties.session_expiry_interval, 9u);
  EXPECT_EQ(decode_disconnect(Version::kV311, 0, span(b), d).reason, reason::kMalformedPacket);
}

TEST(Utf8, RejectsNulOverlongSurrogatesAndTruncation) {
  EXPECT_TRUE(valid_mqtt_utf8("h\xC3\xA9llo \xF0\x9F\x98\x80"));
  EXPECT_FALSE(valid_mqtt_utf8(std::string_view("a\0b", 3)));
  EXPECT_FALSE(valid_mqtt_utf8("\xC0\xAF"));
  EXPECT_FALSE(valid_mqtt_utf8("\xED\xA0\x80"));
  EXPECT_FALSE(valid_mqtt_utf8("\xE2\x82"));
  EXPECT_FALSE(valid_mqtt_utf8("\xF4\x90\x80\x80"));
}

TEST(Encoder, ConnackV311MapsReasonCodesToReturnCodes) {
  EXPECT_EQ(encode_connack(Version::kV311, true, reason::kSuccess),
            std::string("\x20\x02\x01\x00", 4));
  EXPECT_EQ(encode_connack(Version::kV311, true, reason::kBadUserNameOrPassword),
            std::string("\x20\x02\x00\x04", 4));
  EXPECT_EQ(v311_connack_code(reason::kNotAuthorized), 0x05);
  EXPECT_EQ(v311_connack_code(reason::kServerBusy), 0x03);
}

TEST(Encoder, ConnackV5CarriesProperties) {
  Properties p;
  p.receive_maximum = 64;
  p.maximum_packet_size = 1024;
  EXPECT_EQ(encode_connack(Version::kV5, false, reason::kSuccess, p),
            std::string("\x20\x0B\x00\x00\x08\x21\x00\x40\x27\x00\x00\x04\x00", 13));
}

TEST(Encoder, V5AckWithSuccessUsesTheShortForm) {
  EXPECT_EQ(encode_ack(Version::kV5, PacketType::kPuback, 0x0102, 0),
            std::string("\x40\x02\x01\x02", 4));
  EXPECT_EQ(encode_ack(Version::kV5, PacketType::kPuback, 1, reason::kPayloadFormatInvalid),
            std::string("\x40\x03\x00\x01\x99", 5));
  EXPECT_EQ(encode_ack(Version::kV311, PacketType::kPuback, 1, reason::kPayloadFormatInvalid),
            std::string("\x40\x02\x00\x01", 4));
  EXPECT_EQ(encode_ack(Version::kV311, PacketType::kPubrel, 1, 0),
            std::string("\x62\x02\x00\x01", 4));
}

TEST(Encoder, SubackV311TurnsRefusalsInto0x80) {
  const uint8_t codes[] = {1, reason::kNotAuthorized};
  EXPECT_EQ(encode_suback(Version::kV311, 3, codes), std::string("\x90\x04\x00\x03\x01\x80", 6));
  EXPECT_EQ(encode_suback(Version::kV5, 3, codes), std::string("\x90\x05\x00\x03\x00\x01\x87", 7));
}

TEST_P(ForEachVersion, PublishRoundTripsThroughEncoderAndDecoder) {
  const Version v = GetParam();
  Publish p;
  p.topic = "devices/d/config";
  p.payload = std::string(300, 'x');  // a two-byte remaining length
  p.qos = 1;
  p.packet_id = 513;
  p.retain = true;
  const std::string wire = encode_publish(v, p);
  FrameHeader h;
  ASSERT_EQ(read_frame_header(span(wire), 1 << 20, h), FrameStatus::kComplete);
  EXPECT_EQ(h.header_bytes, 3u);
  Publish q;
  ASSERT_TRUE(decode_publish(v, h.flags, span(wire).subspan(h.header_bytes), q).ok());
  EXPECT_EQ(q.topic, p.topic);
  EXPECT_EQ(q.payload, p.payload);
  EXPECT_EQ(q.packet_id, 513);
  EXPECT_TRUE(q.retain);
}

// The consumers' shared QoS 0 packets are the bytes encode_publish would build, back to back.
TEST_P(ForEachVersion, AppendedQos0PublishesEqualEncodedOnes) {
  const Version v = GetParam();
  std::string out = "prefix";
  std::string expected = "prefix";
  for (size_t size : {0, 5, 200, 20000}) {  // one-, two- and three-byte remaining lengths
    Publish p;
    p.topic = "devices/d" + std::to_string(size) + "/telemetry";
    p.payload = std::string(size, 'y');
    append_publish_qos0(v, p.topic, p.payload, out);
    expected += encode_publish(v, p);
  }
  EXPECT_EQ(out, expected);
}

TEST(TopicTemplates, DefaultsMatchTheDocumentedTopics) {
  const TopicTemplates t = TopicTemplates::defaults();
  auto m = t.match("devices/pump-7/telemetry");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->device_id, "pump-7");
  EXPECT_EQ(m->kind, MessageKind::kTelemetry);
  EXPECT_EQ(t.match("iot/x/telemetry")->kind, MessageKind::kTelemetry);
  EXPECT_EQ(t.match("devices/x/heartbeat")->kind, MessageKind::kHeartbeat);
  EXPECT_FALSE(t.match("devices/x/config"));
  EXPECT_FALSE(t.match("devices/x/telemetry/extra"));
  EXPECT_FALSE(t.match("devices//telemetry"));
  EXPECT_FALSE(t.match("devices/bad id/telemetry"));
}

TEST(TopicTemplates, TemplatesNeedExactlyOneDeviceLevelAndNoWildcards) {
  EXPECT_FALSE(TopicTemplates::parse({"a/b"}, {}).ok());
  EXPECT_FALSE(TopicTemplates::parse({"{device_id}/{device_id}"}, {}).ok());
  EXPECT_FALSE(TopicTemplates::parse({"a/+/{device_id}"}, {}).ok());
  EXPECT_FALSE(TopicTemplates::parse({"a//{device_id}"}, {}).ok());
  auto t = TopicTemplates::parse({"{device_id}/up"}, {"{device_id}/alive"});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->match("d9/up")->device_id, "d9");
  EXPECT_EQ(t->filters(MessageKind::kTelemetry, "+"), std::vector<std::string>{"+/up"});
}

}  // namespace
}  // namespace fp::mqtt
