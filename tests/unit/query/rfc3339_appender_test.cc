// Rfc3339Appender writes exactly what format_rfc3339 writes, for any time, in any order.
#include "query/rfc3339_appender.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "model/time_format.h"

namespace fp::query {
namespace {

TEST(Rfc3339Appender, WritesWhatFormatRfc3339WritesAtEdgesAndAtRandom) {
  std::vector<int64_t> times = {0,
                                -1,
                                1,
                                999,
                                1000,
                                86'399'999,
                                86'400'000,
                                -86'400'000,
                                -86'400'001,
                                1'767'225'600'000,  // 2026-01-01
                                951'782'400'000,    // 2000-02-29
                                -62'167'219'200'000,
                                -62'167'219'200'001,
                                253'402'300'799'999,
                                253'402'300'800'000,
                                INT64_MIN / 2,
                                INT64_MAX / 2};
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int64_t> any(-70'000'000'000'000, 260'000'000'000'000);
  std::uniform_int_distribution<int64_t> step(0, 100'000'000);
  int64_t t = 1'700'000'000'000;
  for (int i = 0; i < 20'000; ++i) {
    times.push_back(any(rng));
    t += step(rng);  // runs within one day, and across days
    times.push_back(t);
  }
  Rfc3339Appender appender;
  for (const int64_t ms : times) {
    std::string out = "x";
    appender.append(out, ms);
    ASSERT_EQ(out, "x" + format_rfc3339(ms)) << ms;
  }
}

}  // namespace
}  // namespace fp::query
