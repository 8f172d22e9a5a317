#include "promql/api_params.h"

#include <gtest/gtest.h>

namespace fp::promql {
namespace {

TEST(ApiParams, TimeIsFloatSecondsOrRfc3339InMilliseconds) {
  EXPECT_EQ(parse_api_time("1435781451.781"), 1435781451781);
  EXPECT_EQ(parse_api_time("-1.5"), -1500);
  EXPECT_EQ(parse_api_time("2015-07-01T20:10:51.781Z"), 1435781451781);
  EXPECT_EQ(parse_api_time("yesterday"), std::nullopt);
  EXPECT_EQ(parse_api_time("1e300"), std::nullopt);  // out of millisecond range
  EXPECT_EQ(parse_api_time("NaN"), std::nullopt);
  EXPECT_EQ(parse_api_time(""), std::nullopt);
}

TEST(ApiParams, StepIsFloatSecondsOrADuration) {
  EXPECT_EQ(parse_api_step("15"), 15000);
  EXPECT_EQ(parse_api_step("0.5"), 500);
  EXPECT_EQ(parse_api_step("1m"), 60000);
  EXPECT_EQ(parse_api_step("1h30m"), 5400000);
  EXPECT_EQ(parse_api_step("1e300"), std::nullopt);
  EXPECT_EQ(parse_api_step("soon"), std::nullopt);
}

}  // namespace
}  // namespace fp::promql
