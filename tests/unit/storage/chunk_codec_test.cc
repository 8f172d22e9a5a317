#include <gtest/gtest.h>

#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <numbers>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "storage/codec/chunk_decoder.h"
#include "storage/codec/chunk_encoder.h"
#include "storage/codec/chunk_format.h"

namespace fp::codec {
namespace {

using Point = std::pair<int64_t, double>;
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

uint64_t bits_of(double v) {
  return std::bit_cast<uint64_t>(v);
}

std::string encode(const std::vector<Point>& points) {
  ChunkEncoder enc;
  for (const auto& [ts, v] : points) enc.append(ts, v);
  EXPECT_EQ(enc.count(), points.size());
  return enc.finish();
}

ValueEncoding encoding_of(const std::string& chunk) {
  return static_cast<ValueEncoding>(static_cast<uint8_t>(chunk.at(0)) & 0x0f);
}

// Decodes with the streaming decoder, returning what it yielded and its final status.
std::vector<Point> decode_points(std::string_view chunk, Status* status) {
  ChunkDecoder dec(chunk);
  std::vector<Point> out;
  int64_t ts = 0;
  double v = 0;
  while (dec.next(ts, v)) out.emplace_back(ts, v);
  *status = dec.status();
  EXPECT_FALSE(dec.next(ts, v));  // stays at the end
  return out;
}

// Bit-exact comparison: same timestamps, same value bit patterns.
void expect_same_points(const std::vector<Point>& want, const std::vector<Point>& got) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(want[i].first, got[i].first) << "timestamp of point " << i;
    ASSERT_EQ(bits_of(want[i].second), bits_of(got[i].second))
        << "value of point " << i << ": want " << want[i].second << " got " << got[i].second;
  }
}

// Encodes, decodes both ways, compares bit for bit; returns the chunk.
std::string round_trip(const std::vector<Point>& points) {
  const std::string chunk = encode(points);
  Status status;
  const std::vector<Point> got = decode_points(chunk, &status);
  EXPECT_TRUE(status.ok()) << status.message();
  expect_same_points(points, got);
  auto all = decode_chunk(chunk);
  EXPECT_TRUE(all.ok());
  if (all.ok()) expect_same_points(points, *all);
  return chunk;
}

double bytes_per_point(const std::string& chunk, size_t n) {
  return static_cast<double>(chunk.size()) / static_cast<double>(n);
}

std::vector<Point> regular(size_t n, int64_t start, int64_t step, double value) {
  std::vector<Point> pts;
  for (size_t i = 0; i < n; ++i) pts.emplace_back(start + static_cast<int64_t>(i) * step, value);
  return pts;
}

// Like the TSBS-iot generator: a bounded random walk printed with `decimals` digits and
// parsed back, as the server sees it.
std::vector<Point> sensor_walk(size_t n, double lo, double hi, double step, int decimals,
                               uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  double v = lo + (hi - lo) * unit(rng);
  std::vector<Point> pts;
  const int64_t start = 1'700'000'000'000;
  for (size_t i = 0; i < n; ++i) {
    v += step * (2 * unit(rng) - 1);
    if (v < lo) v = lo + (lo - v);
    if (v > hi) v = hi - (v - hi);
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", decimals, v);
    pts.emplace_back(start + static_cast<int64_t>(i) * 10'000, std::strtod(text, nullptr));
  }
  return pts;
}

std::vector<double> special_values() {
  return {
      0.0,
      -0.0,
      std::numeric_limits<double>::infinity(),
      -std::numeric_limits<double>::infinity(),
      std::numeric_limits<double>::quiet_NaN(),
      -std::numeric_limits<double>::quiet_NaN(),
      std::numeric_limits<double>::signaling_NaN(),
      std::bit_cast<double>(uint64_t{0x7ff0000000000001}),  // smallest-payload signaling NaN
      std::bit_cast<double>(uint64_t{0x7ff8dead0000beef}),  // quiet NaN with a payload
      std::bit_cast<double>(uint64_t{0xfff123456789abcd}),  // negative NaN with a payload
      std::bit_cast<double>(uint64_t{0xffffffffffffffff}),
      std::numeric_limits<double>::denorm_min(),
      -std::numeric_limits<double>::denorm_min(),
      std::bit_cast<double>(uint64_t{0x000fffffffffffff}),  // largest denormal
      DBL_MIN,
      DBL_MAX,
      -DBL_MAX,
      DBL_EPSILON,
      1.0,
      -1.0,
      0.1,
      1e300,
      -1e-300,
      9007199254740991.0,  // 2^53 - 1
      9007199254740992.0,  // 2^53
  };
}

TEST(ChunkCodec, EmptyChunkIsTwoBytesAndDecodesToNothing) {
  const std::string chunk = round_trip({});
  EXPECT_EQ(chunk.size(), 2u);
}

TEST(ChunkCodec, SinglePointRoundTripsForEveryKindOfValue) {
  for (double v : special_values()) {
    for (int64_t ts : {int64_t{0}, kMin, kMax, int64_t{-1}, int64_t{1'700'000'000'123}}) {
      round_trip({{ts, v}});
    }
  }
}

TEST(ChunkCodec, SpecialValuesRoundTripBitExactInEveryOrder) {
  const std::vector<double> specials = special_values();
  std::mt19937_64 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<Point> pts;
    const size_t n = 1 + rng() % 300;
    for (size_t i = 0; i < n; ++i) {
      pts.emplace_back(static_cast<int64_t>(i) * 1000, specials[rng() % specials.size()]);
    }
    round_trip(pts);
  }
}

TEST(ChunkCodec, RandomBitPatternsRoundTripBitExact) {
  std::mt19937_64 rng(11);
  std::vector<Point> pts;
  for (int i = 0; i < 20000; ++i) {
    pts.emplace_back(static_cast<int64_t>(rng()), std::bit_cast<double>(rng()));
  }
  EXPECT_EQ(encoding_of(round_trip(pts)), ValueEncoding::kXor);
}

TEST(ChunkCodec, RandomDoublesUseXorAndRoundTrip) {
  std::mt19937_64 rng(12);
  std::uniform_real_distribution<double> dist(-1e6, 1e6);
  std::vector<Point> pts;
  for (int i = 0; i < 10000; ++i) pts.emplace_back(i * 10'000, dist(rng));
  EXPECT_EQ(encoding_of(round_trip(pts)), ValueEncoding::kXor);
}

TEST(ChunkCodec, ExtremeTimestampsRoundTripWithoutOverflow) {
  const std::vector<int64_t> ts = {kMin, kMax, kMin, kMin + 1, kMax - 1, 0,        kMax, kMax, kMax,
                                   -1,   1,    kMin, kMin,     kMax / 2, kMin / 2, kMax, kMin};
  std::vector<Point> pts;
  for (size_t i = 0; i < ts.size(); ++i) pts.emplace_back(ts[i], static_cast<double>(i));
  round_trip(pts);
}

TEST(ChunkCodec, EqualAndDecreasingTimestampsRoundTrip) {
  std::vector<Point> pts;
  for (int i = 0; i < 500; ++i) pts.emplace_back(5000, i * 0.5);      // all equal
  for (int i = 0; i < 500; ++i) pts.emplace_back(5000 - i * 7, 1.0);  // decreasing
  for (int i = 0; i < 500; ++i) pts.emplace_back((i % 2) ? 1 : 1'000'000'000'000, 2.0);
  round_trip(pts);
}

TEST(ChunkCodec, HoldsTimestampAnswersFromTheTimestampsAloneAndLeavesTheDecoderAtTheStart) {
  std::mt19937_64 rng(7);
  std::vector<Point> pts;
  int64_t ts = 1'700'000'000'000;
  for (int i = 0; i < 150; ++i) {  // past two 64-point blocks; gaps from 1 ms to a day
    ts += 1 + static_cast<int64_t>(rng() % (i % 10 == 0 ? 86'400'000 : 1000));
    pts.emplace_back(ts, i % 3 ? static_cast<double>(i) / 10 : std::nan(""));
  }
  const std::string chunk = encode(pts);
  for (const auto& [t, v] : pts) {
    ChunkDecoder dec(chunk);
    EXPECT_TRUE(dec.holds_timestamp(t)) << t;
    EXPECT_FALSE(dec.holds_timestamp(t - 1) && t - 1 != pts.front().first) << t - 1;
  }
  ChunkDecoder dec(chunk);
  EXPECT_FALSE(dec.holds_timestamp(pts.front().first - 1));
  EXPECT_FALSE(dec.holds_timestamp(pts.back().first + 1));
  EXPECT_TRUE(dec.holds_timestamp(pts.back().first));
  Status status;
  expect_same_points(pts, decode_points(chunk, &status));
  int64_t t = 0;
  double v = 0;
  ASSERT_TRUE(dec.next(t, v));  // the same decoder still starts at the first point
  EXPECT_EQ(t, pts.front().first);
  // A chunk cut inside its timestamps holds nothing.
  ChunkDecoder cut(std::string_view(chunk).substr(0, 12));
  EXPECT_FALSE(cut.holds_timestamp(pts.back().first));
}

TEST(ChunkCodec, HugeGapsAndRandomTimestampsRoundTrip) {
  std::mt19937_64 rng(13);
  std::vector<Point> pts;
  uint64_t ts = 0;  // unsigned: the test's own walk may wrap around
  for (int i = 0; i < 5000; ++i) {
    switch (rng() % 6) {
      case 0:
        ts = rng();  // anywhere
        break;
      case 1:
        ts += rng() % 1000;  // jitter
        break;
      case 2:
        ts -= rng() % 100000;  // backwards
        break;
      case 3:
        ts = (rng() & 1) ? static_cast<uint64_t>(kMax) - rng() % 3
                         : static_cast<uint64_t>(kMin) + rng() % 3;
        break;
      case 4:
        ts += uint64_t{1} << (rng() % 40);
        break;
      default:
        break;
    }
    pts.emplace_back(static_cast<int64_t>(ts), static_cast<double>(rng() % 1000) / 10);
  }
  round_trip(pts);
}

TEST(ChunkCodec, RegularTimestampsCostAboutOneBitEach) {
  // Constant values isolate the timestamp stream.
  const std::vector<Point> pts = regular(10000, 1'700'000'000'000, 10'000, 21.5);
  const std::string chunk = round_trip(pts);
  EXPECT_EQ(encoding_of(chunk), ValueEncoding::kDecimal);
  // 1 bit per timestamp + 8 bits per 64 values.
  EXPECT_LT(bytes_per_point(chunk, pts.size()), 0.145);
}

TEST(ChunkCodec, JitteredTimestampsStayCompact) {
  std::mt19937_64 rng(14);
  std::vector<Point> pts;
  for (int i = 0; i < 10000; ++i) {
    pts.emplace_back(1'700'000'000'000 + i * 10'000 + static_cast<int64_t>(rng() % 50), 1.0);
  }
  const std::string chunk = round_trip(pts);
  EXPECT_LT(bytes_per_point(chunk, pts.size()), 1.3);  // '10' + 8 bits per timestamp
}

TEST(ChunkCodec, ConstantValuesCostAlmostNothing) {
  for (double v : {0.0, 1.0, 21.5, -3.25, 1e15, 123456.789}) {
    const std::vector<Point> pts = regular(8640, 0, 10'000, v);
    const std::string chunk = round_trip(pts);
    EXPECT_EQ(encoding_of(chunk), ValueEncoding::kDecimal) << v;
    EXPECT_LT(bytes_per_point(chunk, pts.size()), 0.145) << v;
  }
  // Non-decimal constants go through XOR at one bit per repeat.
  const std::vector<Point> pts = regular(8640, 0, 10'000, std::numbers::pi);
  const std::string chunk = round_trip(pts);
  EXPECT_EQ(encoding_of(chunk), ValueEncoding::kXor);
  EXPECT_LT(bytes_per_point(chunk, pts.size()), 0.26);
}

TEST(ChunkCodec, SensorRandomWalksUseDecimalEncodingAndAreCompact) {
  // The seven TSBS-iot fields: (lo, hi, step, decimals), with what the dense 64-point blocks
  // should take: log2 of the step range in mantissa units, + 1/8 for the block header, + 1
  // bit for the timestamp.
  struct Field {
    double lo, hi, step;
    int decimals;
    double max_bytes_per_point;
  };
  const Field fields[] = {
      {-90, 90, 0.0005, 6, 1.42},    // latitude: steps of +-500 units -> 10 bits
      {-180, 180, 0.0005, 6, 1.42},  // longitude
      {0, 5000, 5, 1, 1.05},         // elevation: +-50 -> 7 bits
      {0, 100, 2, 2, 1.30},          // velocity: +-200 -> 9 bits
      {0, 360, 5, 2, 1.42},          // heading: +-500 -> 10 bits
      {0, 100, 1, 2, 1.17},          // grade: +-100 -> 8 bits
      {0, 50, 0.5, 3, 1.42},         // fuel: +-500 -> 10 bits
  };
  double total_bytes = 0;
  size_t total_points = 0;
  uint64_t seed = 100;
  for (const Field& f : fields) {
    for (size_t n : {size_t{120}, size_t{720}, size_t{8640}}) {
      const std::vector<Point> pts = sensor_walk(n, f.lo, f.hi, f.step, f.decimals, ++seed);
      const std::string chunk = round_trip(pts);
      EXPECT_EQ(encoding_of(chunk), ValueEncoding::kDecimal) << f.decimals;
      if (n == 8640) {
        EXPECT_LT(bytes_per_point(chunk, n), f.max_bytes_per_point) << f.lo << ".." << f.hi;
        total_bytes += static_cast<double>(chunk.size());
        total_points += n;
      }
    }
  }
  // VictoriaMetrics needs 3.03 bytes per value on this workload, everything included.
  EXPECT_LT(total_bytes / static_cast<double>(total_points), 1.35);
}

TEST(ChunkCodec, EveryDecimalPrecisionFromZeroToNineIsDetected) {
  std::mt19937_64 rng(15);
  for (int decimals = 0; decimals <= 9; ++decimals) {
    std::vector<Point> pts;
    for (int i = 0; i < 1000; ++i) {
      const double raw = std::uniform_real_distribution<double>(-1e5, 1e5)(rng);
      char text[64];
      std::snprintf(text, sizeof text, "%.*f", decimals, raw);
      pts.emplace_back(i, std::strtod(text, nullptr));
    }
    EXPECT_EQ(encoding_of(round_trip(pts)), ValueEncoding::kDecimal) << decimals;
  }
  // Ten decimals are one too many.
  std::vector<Point> pts;
  for (int i = 0; i < 100; ++i) pts.emplace_back(i, 0.0000000001 * (i + 1) + 0.1);
  EXPECT_EQ(encoding_of(round_trip(pts)), ValueEncoding::kXor);
}

TEST(ChunkCodec, ExponentGrowsWhenLaterValuesHaveMoreDigits) {
  // Segments with 0, 1, ... 9 decimals: the exponent rises nine times, across blocks and
  // inside the first one.
  std::vector<Point> pts;
  for (int decimals = 0; decimals <= 9; ++decimals) {
    const size_t n = decimals < 3 ? 20 : 100;
    for (const Point& p : sensor_walk(n, 0, 100, 1, decimals, 30 + decimals)) {
      pts.emplace_back(static_cast<int64_t>(pts.size()) * 10'000, p.second);
    }
  }
  EXPECT_EQ(encoding_of(round_trip(pts)), ValueEncoding::kDecimal);
}

TEST(ChunkCodec, ExponentGrowthThatWouldOverflowMantissasFallsBackToXor) {
  // 2^52 as an integer is fine, but 2^52 * 10 is not below 2^53.
  std::vector<Point> pts;
  for (int i = 0; i < 150; ++i) pts.emplace_back(i, 4503599627370496.0 + i);
  pts.emplace_back(150, 0.5);
  pts.emplace_back(151, 7);
  EXPECT_EQ(encoding_of(round_trip(pts)), ValueEncoding::kXor);
}

TEST(ChunkCodec, NonDecimalValueAnywhereSwitchesTheChunkToXor) {
  for (size_t at : {size_t{0}, size_t{1}, size_t{63}, size_t{64}, size_t{65}, size_t{200}}) {
    for (double odd : {std::nan(""), -0.0, 0.1 + 0.2, 1e300, 5e-324}) {
      std::vector<Point> pts = sensor_walk(201, 0, 100, 2, 2, at);
      pts[at].second = odd;
      EXPECT_EQ(encoding_of(round_trip(pts)), ValueEncoding::kXor) << at << " " << odd;
    }
  }
}

TEST(ChunkCodec, MantissasNearTwoToThe53RoundTrip) {
  std::vector<Point> pts;
  const double big[] = {9007199254740991.0, -9007199254740991.0, 900719925474.0991,
                        -90071992.54740991, 9007199.254740991,   4503599627370495.5};
  for (int i = 0; i < 200; ++i) pts.emplace_back(i, big[i % 6]);
  round_trip(pts);
}

TEST(ChunkCodec, LinearRampsUseSecondOrderDeltas) {
  std::vector<Point> pts;
  for (int i = 0; i < 8640; ++i) pts.emplace_back(i * 10'000, 1000.0 + i * 0.25);  // meter
  const std::string chunk = round_trip(pts);
  EXPECT_EQ(encoding_of(chunk), ValueEncoding::kDecimal);
  EXPECT_LT(bytes_per_point(chunk, pts.size()), 0.145);
}

TEST(ChunkCodec, RareChangesUseSparseBlocks) {
  std::vector<Point> pts;
  double v = 20.0;
  for (int i = 0; i < 8640; ++i) {
    if (i % 100 == 99) v += 0.5;
    pts.emplace_back(i * 10'000, v);
  }
  const std::string chunk = round_trip(pts);
  EXPECT_EQ(encoding_of(chunk), ValueEncoding::kDecimal);
  EXPECT_LT(bytes_per_point(chunk, pts.size()), 0.3);
}

TEST(ChunkCodec, XorIsChosenWhenSmallerEvenForDecimalValues) {
  // 2^50 and 3 * 2^49 differ in one bit, but their difference needs 50 bits.
  std::vector<Point> pts;
  for (int i = 0; i < 1000; ++i)
    pts.emplace_back(i, (i % 2) ? 1688849860263936.0 : 1125899906842624.0);
  const std::string chunk = round_trip(pts);
  EXPECT_EQ(encoding_of(chunk), ValueEncoding::kXor);
  EXPECT_LT(bytes_per_point(chunk, pts.size()), 0.6);
}

TEST(ChunkCodec, HundredThousandPointsRoundTrip) {
  round_trip(sensor_walk(100'000, -90, 90, 0.0005, 6, 1));
  std::mt19937_64 rng(16);
  std::vector<Point> pts;
  for (int i = 0; i < 100'000; ++i) pts.emplace_back(i * 1000, std::bit_cast<double>(rng()));
  round_trip(pts);
}

TEST(ChunkCodec, FinishIsRepeatableAndAppendingContinues) {
  const std::vector<Point> pts = sensor_walk(300, 0, 50, 0.5, 3, 17);
  ChunkEncoder enc;
  for (size_t i = 0; i < pts.size(); ++i) {
    enc.append(pts[i].first, pts[i].second);
    if (i % 37 == 0 || i == 63 || i == 64 || i == 65) {
      const std::string chunk = enc.finish();
      EXPECT_EQ(chunk, enc.finish());
      const std::vector<Point> prefix(pts.begin(), pts.begin() + static_cast<ptrdiff_t>(i + 1));
      EXPECT_EQ(chunk, encode(prefix)) << i;
    }
  }
  EXPECT_EQ(enc.finish(), encode(pts));
}

TEST(ChunkCodec, ClearStartsAFreshChunk) {
  ChunkEncoder enc;
  enc.append(1, std::nan(""));
  enc.append(2, 3.0);
  enc.clear();
  EXPECT_EQ(enc.count(), 0u);
  EXPECT_EQ(enc.finish(), encode({}));
  enc.append(10, 1.5);
  enc.append(20, 2.5);
  EXPECT_EQ(enc.finish(), encode({{10, 1.5}, {20, 2.5}}));
}

TEST(ChunkCodec, RandomMixturesRoundTrip) {
  std::mt19937_64 rng(18);
  const std::vector<double> specials = special_values();
  for (int round = 0; round < 300; ++round) {
    std::vector<Point> pts;
    const size_t n = rng() % 400;
    uint64_t ts = rng();
    double v = 0;
    for (size_t i = 0; i < n; ++i) {
      ts += rng() % 3 == 0 ? rng() : rng() % 100;
      switch (rng() % 8) {
        case 0:
          v = specials[rng() % specials.size()];
          break;
        case 1:
          v = std::bit_cast<double>(rng());
          break;
        case 2:
        case 3:
          v = static_cast<double>(static_cast<int64_t>(rng() % 2000001) - 1000000) /
              std::pow(10.0, static_cast<double>(rng() % 10));
          break;
        default:
          break;  // repeat
      }
      pts.emplace_back(static_cast<int64_t>(ts), v);
    }
    round_trip(pts);
  }
}

// --- corrupt input --------------------------------------------------------------------

std::vector<std::string> sample_chunks() {
  std::vector<std::string> chunks;
  chunks.push_back(encode({}));
  chunks.push_back(encode({{1'700'000'000'000, 21.5}}));
  chunks.push_back(encode({{5, std::nan("")}}));
  chunks.push_back(encode(sensor_walk(200, -90, 90, 0.0005, 6, 19)));
  chunks.push_back(encode(sensor_walk(64, 0, 100, 1, 2, 20)));
  chunks.push_back(encode(sensor_walk(65, 0, 100, 1, 2, 20)));
  std::vector<Point> xor_pts;
  std::mt19937_64 rng(21);
  for (int i = 0; i < 150; ++i)
    xor_pts.emplace_back(static_cast<int64_t>(rng()), std::bit_cast<double>(rng()));
  chunks.push_back(encode(xor_pts));
  chunks.push_back(encode(regular(300, 0, 10'000, 1.0)));
  return chunks;
}

TEST(ChunkCodecCorruption, EveryTruncationIsCorruptionAfterAValidPrefix) {
  for (const std::string& chunk : sample_chunks()) {
    Status status;
    const std::vector<Point> full = decode_points(chunk, &status);
    ASSERT_TRUE(status.ok());
    for (size_t len = 0; len < chunk.size(); ++len) {
      const std::string cut = chunk.substr(0, len);  // own allocation: ASan sees overreads
      const std::vector<Point> got = decode_points(cut, &status);
      EXPECT_EQ(status.code(), StatusCode::kCorruption)
          << "length " << len << " of " << chunk.size();
      ASSERT_LE(got.size(), full.size());
      expect_same_points(
          std::vector<Point>(full.begin(), full.begin() + static_cast<ptrdiff_t>(got.size())), got);
      EXPECT_FALSE(decode_chunk(cut).ok());
    }
  }
}

TEST(ChunkCodecCorruption, BitFlipsNeverCrashOrOverrun) {
  for (const std::string& chunk : sample_chunks()) {
    for (size_t bit = 0; bit < chunk.size() * 8; ++bit) {
      std::string bad = chunk;
      bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
      Status status;
      const std::vector<Point> got = decode_points(bad, &status);
      EXPECT_LE(got.size(), bad.size() * 8 + 1);
    }
  }
}

TEST(ChunkCodecCorruption, RandomGarbageIsRejectedOrBounded) {
  std::mt19937_64 rng(22);
  for (int round = 0; round < 5000; ++round) {
    std::string bytes(rng() % 64, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    if (!bytes.empty() && (round % 2))
      bytes[0] = static_cast<char>(0x10 | (rng() % 2));  // valid header
    Status status;
    const std::vector<Point> got = decode_points(bytes, &status);
    EXPECT_LE(got.size(), bytes.size() * 8 + 1);
  }
}

TEST(ChunkCodecCorruption, HugeDeclaredCountIsRejectedBeforeDecoding) {
  std::string chunk;
  chunk.push_back(0x11);                   // version 1, decimal
  put_uvarint(&chunk, uint64_t{1} << 62);  // count
  put_uvarint(&chunk, 0);                  // first timestamp
  put_uvarint(&chunk, 2);                  // timestamp stream bytes
  chunk.append("\0\0\0\0", 4);
  ChunkDecoder dec(chunk);
  EXPECT_EQ(dec.status().code(), StatusCode::kCorruption);
  EXPECT_EQ(dec.count(), 0u);
  EXPECT_FALSE(decode_chunk(chunk).ok());
}

TEST(ChunkCodecCorruption, UnknownVersionOrEncodingIsRejected) {
  std::string chunk = encode(sensor_walk(10, 0, 1, 0.1, 1, 23));
  for (uint8_t header : {0x01, 0x21, 0xf1, 0x12, 0x1f}) {
    chunk[0] = static_cast<char>(header);
    EXPECT_EQ(decode_chunk(chunk).status().code(), StatusCode::kCorruption) << int{header};
  }
}

TEST(ChunkCodecCorruption, TrailingBytesAreRejected) {
  for (const std::string& chunk : sample_chunks()) {
    for (char extra : {'\0', '\x80', '\xff'}) {
      EXPECT_EQ(decode_chunk(chunk + extra).status().code(), StatusCode::kCorruption);
    }
  }
}

TEST(ChunkCodecCorruption, ExponentAboveNineIsRejected) {
  std::string chunk = encode({{0, 1.5}, {1, 2.5}});
  ASSERT_EQ(encoding_of(chunk), ValueEncoding::kDecimal);
  // header, count, ts0, ts_len, ts bytes, then the exponent byte.
  const size_t ts_len = static_cast<uint8_t>(chunk[3]);
  chunk[4 + ts_len] = 10;
  EXPECT_EQ(decode_chunk(chunk).status().code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace fp::codec
