// append_batch: the telemetry PUBLISHes of one read are merged into one ReadingBatch (one
// submission). Devices and metrics are interned again, points keep their order and whether
// they wait for a server timestamp, attributes and resolved series ids follow their pair.

#include <gtest/gtest.h>

#include "mqtt/message_ingest.h"

namespace fp::mqtt {
namespace {

TEST(AppendBatch, MergesPointsAttributesStampsAndSeriesIds) {
  ReadingBatch into;
  const uint32_t a = into.intern_device("a"), t = into.intern_metric("t");
  into.add(a, t, 1000, 1);
  into.resolved_series().generation = 7;
  into.resolved_series().put(SeriesPairs::key(a, t), 40);
  into.set_wire_bytes(10);

  ReadingBatch from;  // its own indexes: b first, then a
  const uint32_t b = from.intern_device("b"), fa = from.intern_device("a");
  const uint32_t h = from.intern_metric("h"), ft = from.intern_metric("t");
  from.add(fa, ft, 2000, 2);
  from.add_unstamped(b, h, 3000, 3);
  from.add(b, ft, 4000, 4);
  from.add_attribute(b, "fw", "1.2", 4000);
  from.resolved_series().generation = 5;
  from.resolved_series().put(SeriesPairs::key(fa, ft), 40);
  from.resolved_series().put(SeriesPairs::key(b, h), SeriesPairs::kUnresolved);
  from.set_wire_bytes(32);

  append_batch(into, from);
  ASSERT_EQ(into.devices(), (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(into.metrics(), (std::vector<std::string>{"t", "h"}));
  ASSERT_EQ(into.points().size(), 4u);
  const auto& p = into.points();
  EXPECT_EQ(into.devices()[p[1].device], "a");
  EXPECT_EQ(into.metrics()[p[1].metric], "t");
  EXPECT_EQ(p[1].ts_ms, 2000);
  EXPECT_EQ(into.devices()[p[2].device], "b");
  EXPECT_EQ(into.metrics()[p[2].metric], "h");
  EXPECT_EQ(p[3].value, 4);
  EXPECT_EQ(into.unstamped(), std::vector<uint32_t>{2});
  ASSERT_EQ(into.attributes().size(), 1u);
  EXPECT_EQ(into.devices()[into.attributes()[0].device], "b");
  EXPECT_EQ(into.attributes()[0].value, "1.2");
  const SeriesPairs& ids = into.resolved_series();
  EXPECT_EQ(ids.generation, 5u);  // the oldest: a removal since makes every id looked up again
  ASSERT_NE(ids.find(SeriesPairs::key(0, 0)), nullptr);
  EXPECT_EQ(*ids.find(SeriesPairs::key(0, 0)), 40u);
  ASSERT_NE(ids.find(SeriesPairs::key(1, 1)), nullptr);
  EXPECT_EQ(*ids.find(SeriesPairs::key(1, 1)), SeriesPairs::kUnresolved);
  EXPECT_EQ(ids.find(SeriesPairs::key(1, 0)), nullptr);  // never resolved: looked up at commit
  EXPECT_EQ(into.wire_bytes(), 42u);
}

}  // namespace
}  // namespace fp::mqtt
