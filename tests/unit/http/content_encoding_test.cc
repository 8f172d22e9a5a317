// gunzip(): bodies as Telegraf and the InfluxDB clients send them, and the bound that stops a
// zip bomb.
#include "http/content_encoding.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

namespace fp::http {
namespace {

std::string gzip_of(const std::string& in) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, in.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

TEST(Gunzip, InflatesABodyByteForByte) {
  const std::string body = "cpu,host=a usage=1.5\ncpu,host=b usage=2\n";
  auto out = gunzip(gzip_of(body), 1 << 20);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(*out, body);
}

TEST(Gunzip, ReadsConcatenatedMembersAsOneBody) {
  auto out = gunzip(gzip_of("first\n") + gzip_of("second\n"), 1 << 20);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "first\nsecond\n");
}

TEST(Gunzip, ABodyExactlyAtTheBoundIsAccepted) {
  const std::string body(100'000, 'x');
  EXPECT_TRUE(gunzip(gzip_of(body), body.size()).ok());
  auto over = gunzip(gzip_of(body), body.size() - 1);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), StatusCode::kTooLarge);
}

TEST(Gunzip, AZipBombStopsAtTheBound) {
  const std::string bomb = gzip_of(std::string(64 << 20, '\0'));  // 64 MiB of zeros
  EXPECT_LT(bomb.size(), 100'000u);
  auto out = gunzip(bomb, 8 << 20);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kTooLarge);
}

TEST(Gunzip, BrokenTruncatedOrTrailingGarbageIsMalformed) {
  const std::string good = gzip_of("hello world");
  for (const std::string& bad : {std::string("not gzip"), good.substr(0, good.size() - 4),
                                 good + "garbage", std::string()}) {
    auto out = gunzip(bad, 1 << 20);
    ASSERT_FALSE(out.ok()) << bad.size();
    EXPECT_EQ(out.status().code(), StatusCode::kMalformed);
  }
  std::string flipped = good;
  flipped[flipped.size() - 6] ^= 0x55;  // the CRC-32
  EXPECT_EQ(gunzip(flipped, 1 << 20).status().code(), StatusCode::kMalformed);
}

}  // namespace
}  // namespace fp::http
