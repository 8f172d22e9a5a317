#include "model/time_format.h"

#include <gtest/gtest.h>

namespace fp {
namespace {

TEST(Rfc3339, ParsesUtcWithAndWithoutFraction) {
  EXPECT_EQ(parse_rfc3339("2026-01-01T00:00:00Z"), 1767225600000);
  EXPECT_EQ(parse_rfc3339("2026-01-01T00:00:00.5Z"), 1767225600500);
  EXPECT_EQ(parse_rfc3339("2026-01-01T00:00:00.123456789Z"), 1767225600123);
  EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00Z"), 0);
}

TEST(Rfc3339, AppliesOffsets) {
  EXPECT_EQ(parse_rfc3339("2026-01-01T02:00:00+02:00"), 1767225600000);
  EXPECT_EQ(parse_rfc3339("2025-12-31T23:00:00-01:00"), 1767225600000);
}

TEST(Rfc3339, RejectsMalformedAndImpossibleDates) {
  for (const char* s : {"", "2026-01-01", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
                        "2026-01-01T24:00:00Z", "2026-01-01T00:00:00", "2026-01-01T00:00:00Zjunk",
                        "2026-01-01T00:00:00.Z", "abcd-01-01T00:00:00Z"})
    EXPECT_FALSE(parse_rfc3339(s).has_value()) << s;
  EXPECT_TRUE(parse_rfc3339("2024-02-29T00:00:00Z").has_value());
  EXPECT_FALSE(parse_rfc3339("2023-02-29T00:00:00Z").has_value());
}

TEST(Rfc3339, FormatRoundTripsWithMilliseconds) {
  for (int64_t ms : {int64_t{0}, int64_t{1767225600123}, int64_t{951782400999}, int64_t{-1}}) {
    std::string s = format_rfc3339(ms);
    EXPECT_EQ(parse_rfc3339(s), ms) << s;
  }
  EXPECT_EQ(format_rfc3339(1767225600123), "2026-01-01T00:00:00.123Z");
}

TEST(Duration, ParsesUnitsCombinationsAndBareSeconds) {
  EXPECT_EQ(parse_duration_ms("250ms"), 250);
  EXPECT_EQ(parse_duration_ms("90s"), 90'000);
  EXPECT_EQ(parse_duration_ms("5m"), 300'000);
  EXPECT_EQ(parse_duration_ms("1h30m"), 5'400'000);
  EXPECT_EQ(parse_duration_ms("7d"), 604'800'000);
  EXPECT_EQ(parse_duration_ms("1.5s"), 1500);
  EXPECT_EQ(parse_duration_ms("30"), 30'000);
  for (const char* s : {"", "abc", "5x", "-5m", "m"}) EXPECT_FALSE(parse_duration_ms(s)) << s;
}

TEST(Duration, HugeValuesAreRejectedNotOverflowed) {
  // Found by fuzz_config: a bare number this large used to overflow int64 (UB).
  EXPECT_FALSE(parse_duration_ms("111111111111111116668"));
  EXPECT_FALSE(parse_duration_ms("99999999999999999999d"));
  EXPECT_FALSE(parse_duration_ms("9000000000000s9000000000000s"));
  EXPECT_EQ(parse_duration_ms("3650d"), int64_t{3650} * 86'400'000);
}

TEST(TimeBound, AcceptsNowRelativeAbsoluteAndEpoch) {
  const int64_t now = 1'767'225'600'000;
  EXPECT_EQ(parse_time_bound("now", now), now);
  EXPECT_EQ(parse_time_bound("-15m", now), now - 900'000);
  EXPECT_EQ(parse_time_bound("now-1h", now), now - 3'600'000);
  EXPECT_EQ(parse_time_bound("2026-01-01T00:00:00Z", now), now);
  EXPECT_EQ(parse_time_bound("1767225600000", now), now);
  EXPECT_FALSE(parse_time_bound("yesterday", now));
}

}  // namespace
}  // namespace fp
