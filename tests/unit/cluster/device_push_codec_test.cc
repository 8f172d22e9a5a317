// The device push relay's messages (cluster/device_push_codec.h).
#include "cluster/device_push_codec.h"

#include <gtest/gtest.h>

namespace fp::cluster {
namespace {

TEST(DevicePushCodec, ConfigAndCommandRoundTrip) {
  for (auto kind : {DevicePush::Kind::kConfig, DevicePush::Kind::kCommand}) {
    DevicePush p{kind, "node-a", "dev.1", R"({"rate":5,"s":"\u0000x"})"};
    auto d = DecodeDevicePush(EncodeDevicePush(p));
    ASSERT_TRUE(d.ok()) << d.status().message();
    EXPECT_EQ(d->kind, kind);
    EXPECT_EQ(d->origin, "node-a");
    EXPECT_EQ(d->device_id, "dev.1");
    EXPECT_EQ(d->payload, p.payload);
  }
}

TEST(DevicePushCodec, CommandDeliveryRoundTrip) {
  CommandDelivery c{42, 2, 1'800'000'000'123, "node-b"};
  auto d = DecodeCommandDelivery(EncodeCommandDelivery(c));
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->command_id, 42);
  EXPECT_EQ(d->delivered_to, 2u);
  EXPECT_EQ(d->expires_at_ms, 1'800'000'000'123);
  EXPECT_EQ(d->node, "node-b");
}

TEST(DevicePushCodec, EveryTruncationAndTrailingByteIsRefused) {
  const std::string push = EncodeDevicePush({DevicePush::Kind::kConfig, "a", "d", "{}"});
  const std::string answer = EncodeCommandDelivery({1, 1, 1, "b"});
  for (size_t n = 0; n < push.size(); ++n)
    EXPECT_FALSE(DecodeDevicePush(push.substr(0, n)).ok()) << n;
  for (size_t n = 0; n < answer.size(); ++n)
    EXPECT_FALSE(DecodeCommandDelivery(answer.substr(0, n)).ok()) << n;
  EXPECT_FALSE(DecodeDevicePush(push + "x").ok());
  EXPECT_FALSE(DecodeCommandDelivery(answer + "x").ok());
  EXPECT_FALSE(DecodeDevicePush(answer).ok());
  EXPECT_FALSE(DecodeCommandDelivery(push).ok());
}

TEST(DevicePushCodec, UnknownKindVersionAndEmptyDeviceAreRefused) {
  std::string push = EncodeDevicePush({DevicePush::Kind::kCommand, "a", "d", "{}"});
  std::string bad_kind = push;
  bad_kind[2] = 'Z';
  EXPECT_FALSE(DecodeDevicePush(bad_kind).ok());
  std::string bad_version = push;
  bad_version[1] = 2;
  EXPECT_FALSE(DecodeDevicePush(bad_version).ok());
  EXPECT_FALSE(DecodeDevicePush(EncodeDevicePush({DevicePush::Kind::kConfig, "a", "", "{}"})).ok());
}

TEST(DevicePushCodec, HugeLengthDoesNotReadPastTheEnd) {
  std::string push = EncodeDevicePush({DevicePush::Kind::kConfig, "a", "d", "{}"});
  push[3] = '\xff';  // origin length 0xff000001
  EXPECT_FALSE(DecodeDevicePush(push).ok());
}

}  // namespace
}  // namespace fp::cluster
