// The cluster stream formats: shares split by partition and round-tripped, publisher stamps,
// damaged input refused; the applied checkpoint's format and durable replacement.
#include "cluster/share_codec.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cluster/applied_checkpoint.h"
#include "cluster/partition.h"

namespace fp::cluster {
namespace {

TEST(ShareCodec, SplitsByPartitionAndRoundTrips) {
  ReadingBatch b;
  const uint32_t temp = b.intern_metric("temp");
  for (int i = 0; i < 40; ++i) {
    const uint32_t d = b.intern_device("dev-" + std::to_string(i));
    b.add(d, temp, 1'000 + i, i * 1.5);
  }
  b.add_attribute(b.intern_device("dev-3"), "fw", "1.2", 1'000);
  auto shares = SplitByPartition(b, 8);
  size_t points = 0, attributes = 0;
  for (const auto& [p, share] : shares) {
    ASSERT_LT(p, 8u);
    for (const auto& d : share->devices()) EXPECT_EQ(PartitionOf(d, 8), p);
    auto decoded = DecodeShare(EncodeTelemetry(*share, 777));
    ASSERT_TRUE(decoded.ok()) << decoded.status().message();
    ASSERT_EQ(decoded->kind, ShareKind::kTelemetry);
    EXPECT_EQ(decoded->received_ms, 777);
    ASSERT_EQ(decoded->batch->points().size(), share->points().size());
    for (size_t i = 0; i < share->points().size(); ++i) {
      const Point& a = share->points()[i];
      const Point& c = decoded->batch->points()[i];
      EXPECT_EQ(share->devices()[a.device], decoded->batch->devices()[c.device]);
      EXPECT_EQ(a.ts_ms, c.ts_ms);
      EXPECT_EQ(a.value, c.value);
    }
    points += share->points().size();
    attributes += decoded->batch->attributes().size();
  }
  EXPECT_EQ(points, 40u);
  EXPECT_EQ(attributes, 1u);
  EXPECT_GT(shares.size(), 1u);
}

TEST(ShareCodec, UnstampedReadingsGetDistinctPublisherStamps) {
  ReadingBatch b;
  const uint32_t d = b.intern_device("dev-1");
  const uint32_t m = b.intern_metric("temp");
  b.add_unstamped(d, m, 5'000, 1);
  b.add_unstamped(d, m, 5'000, 2);
  b.add(d, m, 4'000, 3);
  auto shares = SplitByPartition(b, 4);
  ASSERT_EQ(shares.size(), 1u);
  const auto& pts = shares.begin()->second->points();
  ASSERT_EQ(pts.size(), 3u);
  EXPECT_EQ(pts[0].ts_ms, 5'000);
  EXPECT_EQ(pts[1].ts_ms, 5'001);
  EXPECT_EQ(pts[2].ts_ms, 4'000);
  EXPECT_TRUE(shares.begin()->second->unstamped().empty());
  // Splitting the same request again gives the same bytes: a replay writes the same points.
  EXPECT_EQ(EncodeTelemetry(*shares.begin()->second, 5'000),
            EncodeTelemetry(*SplitByPartition(b, 4).begin()->second, 5'000));
}

TEST(ShareCodec, HeartbeatAndRemovalRoundTrip) {
  HeartbeatReport h;
  h.device_id = "truck-17";
  h.received_ms = 123;
  h.battery_level = 55.5;
  h.geo = GeoPoint{1.5, 2.5};
  h.name = "Truck";
  auto d = DecodeShare(EncodeHeartbeat(h));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->kind, ShareKind::kHeartbeat);
  EXPECT_EQ(d->heartbeat.device_id, "truck-17");
  EXPECT_EQ(d->heartbeat.received_ms, 123);
  EXPECT_EQ(d->heartbeat.battery_level, 55.5);
  EXPECT_FALSE(d->heartbeat.signal_strength.has_value());
  EXPECT_EQ(d->heartbeat.geo->lon, 2.5);
  EXPECT_EQ(d->heartbeat.name, "Truck");
  auto r = DecodeShare(EncodeRemoval(std::string("dev-9"), true));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, ShareKind::kRemoval);
  EXPECT_EQ(r->removed, "dev-9");
  EXPECT_TRUE(r->with_data);
  auto all = DecodeShare(EncodeRemoval(std::nullopt, false));
  ASSERT_TRUE(all.ok());
  EXPECT_FALSE(all->removed.has_value());
}

TEST(ShareCodec, DamagedSharesAreRefused) {
  ReadingBatch b;
  b.add(b.intern_device("d"), b.intern_metric("m"), 1, 2);
  const std::string good = EncodeTelemetry(b, 9);
  for (size_t cut = 0; cut < good.size(); ++cut)
    EXPECT_FALSE(DecodeShare(good.substr(0, cut)).ok()) << cut;
  EXPECT_FALSE(DecodeShare(good + "x").ok());
  std::string bad_index = good;
  bad_index[bad_index.size() - 4 - 24] = 7;  // the point's device index
  EXPECT_FALSE(DecodeShare(bad_index).ok());
  EXPECT_FALSE(DecodeShare("FPS1Z").ok());
  EXPECT_FALSE(DecodeShare("").ok());
  std::string huge = "FPS1T" + std::string(12, '\0') + std::string("\xff\xff\xff\x7f", 4);
  EXPECT_FALSE(DecodeShare(huge).ok());
}

TEST(AppliedCheckpoint, FormatParseAndDurableReplace) {
  AppliedCheckpoint c{16, {{0, 12}, {15, 99}}};
  auto back = ParseCheckpoint(FormatCheckpoint(c));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->partitions, 16u);
  EXPECT_EQ(back->applied, c.applied);
  EXPECT_FALSE(ParseCheckpoint("fleetpulse-applied v1 partitions=16\n16 3\n").ok());
  EXPECT_FALSE(ParseCheckpoint("fleetpulse-applied v1 partitions=16\n1 3").ok());
  EXPECT_FALSE(ParseCheckpoint("fleetpulse-applied v1 partitions=16\n1 3\n1 4\n").ok());
  EXPECT_FALSE(ParseCheckpoint("garbage\n").ok());

  const auto dir = std::filesystem::temp_directory_path() / "fp-checkpoint-test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "applied").string();
  auto empty = LoadCheckpoint(path, 16);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->applied.empty());
  ASSERT_TRUE(SaveCheckpoint(path, c).ok());
  c.applied[3] = 7;
  ASSERT_TRUE(SaveCheckpoint(path, c).ok());
  auto loaded = LoadCheckpoint(path, 16);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->applied, c.applied);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace fp::cluster
