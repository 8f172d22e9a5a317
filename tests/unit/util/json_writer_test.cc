#include "util/json_writer.h"

#include <gtest/gtest.h>

#include <cmath>

namespace fp {
namespace {

TEST(JsonWriter, WritesNestedContainersWithCommas) {
  JsonWriter w;
  w.begin_object().field("a", 1).key("b").begin_array().value(1.5).value("x").null().end_array();
  w.key("c").begin_object().end_object().field("d", true).end_object();
  EXPECT_EQ(w.str(), R"({"a":1,"b":[1.5,"x",null],"c":{},"d":true})");
}

TEST(JsonWriter, EscapesControlCharactersAndQuotes) {
  JsonWriter w;
  w.value(std::string_view("q\"\\\n\x01", 5));
  EXPECT_EQ(w.str(), R"("q\"\\\n\u0001")");
}

TEST(JsonWriter, NonFiniteNumbersBecomeNull) {
  JsonWriter w;
  w.begin_array().value(NAN).value(INFINITY).value(std::optional<double>()).end_array();
  EXPECT_EQ(w.str(), "[null,null,null]");
}

}  // namespace
}  // namespace fp
