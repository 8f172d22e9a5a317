// The PromQL parser: Prometheus 2.42's precedence and associativity, its type errors, and the
// 400/422 split between invalid and unsupported PromQL.
#include "promql/parser.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "promql/lexer.h"

namespace fp::promql {
namespace {

// A fully parenthesised rendering of the tree, to check grouping.
std::string show(const Expr& e) {
  static const char* ops[] = {"+",  "-", "*", "/",  "%",  "^",   "atan2", "==",
                              "!=", ">", "<", ">=", "<=", "and", "or",    "unless"};
  switch (e.kind) {
    case Expr::Kind::kNumber: {
      char buf[32];
      snprintf(buf, sizeof buf, "%g", e.number);
      return buf;
    }
    case Expr::Kind::kString:
      return "\"" + e.text + "\"";
    case Expr::Kind::kVectorSelector:
    case Expr::Kind::kMatrixSelector: {
      std::string s = e.matchers.empty() ? "" : e.matchers[0].value;
      if (e.range_ms) s += "[" + std::to_string(e.range_ms) + "]";
      if (e.offset_ms) s += " offset " + std::to_string(e.offset_ms);
      return s;
    }
    case Expr::Kind::kUnaryMinus:
      return "(-" + show(*e.args[0]) + ")";
    case Expr::Kind::kParen:
      return show(*e.args[0]);
    case Expr::Kind::kBinary:
      return "(" + show(*e.args[0]) + " " + ops[static_cast<int>(e.op)] + " " + show(*e.args[1]) +
             ")";
    case Expr::Kind::kCall:
    case Expr::Kind::kAggregate: {
      std::string s = e.kind == Expr::Kind::kCall ? e.text : "agg";
      s += "(";
      if (e.param) s += show(*e.param) + ", ";
      for (size_t i = 0; i < e.args.size(); ++i) s += (i ? ", " : "") + show(*e.args[i]);
      return s + ")";
    }
  }
  return "?";
}

std::string parsed(const std::string& q) {
  auto e = parse_expression(q);
  EXPECT_TRUE(e.ok()) << q << ": " << e.status().message();
  return e.ok() ? show(**e) : "";
}

TEST(PromqlParser, FollowsPrometheusPrecedence) {
  EXPECT_EQ(parsed("a + b * c"), "(a + (b * c))");
  EXPECT_EQ(parsed("a - b - c"), "((a - b) - c)");
  EXPECT_EQ(parsed("2 ^ 3 ^ 2"), "(2 ^ (3 ^ 2))");
  EXPECT_EQ(parsed("-a ^ 2"), "(-(a ^ 2))");
  EXPECT_EQ(parsed("-a * 2"), "((-a) * 2)");
  EXPECT_EQ(parsed("a or b and c unless d"), "(a or ((b and c) unless d))");
  EXPECT_EQ(parsed("a > b + 1"), "(a > (b + 1))");
  EXPECT_EQ(parsed("a atan2 b * c"), "((a atan2 b) * c)");
  EXPECT_EQ(parsed("-1"), "-1");
  EXPECT_EQ(parsed("rate(x[5m] offset 1h)"), "rate(x[300000] offset 3600000)");
  EXPECT_EQ(parsed("sum by (a) (x)"), "agg(x)");
  EXPECT_EQ(parsed("topk(3, x) by (a)"), "agg(3, x)");
  EXPECT_EQ(parsed("SUM(x)"), "agg(x)");
  EXPECT_EQ(parsed("x # comment"), "x");
}

TEST(PromqlParser, ReadsNumbersDurationsAndStrings) {
  EXPECT_EQ(parse_duration("1h30m"), 5'400'000);
  EXPECT_EQ(parse_duration("1y"), 365LL * 86'400'000);
  EXPECT_EQ(parse_duration("30m1h"), -1);  // units must be in order
  EXPECT_EQ(parse_duration("5"), -1);
  auto e = parse_expression("0x1F + 1e3 + Inf");
  ASSERT_TRUE(e.ok());
  e = parse_expression("NaN");
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(std::isnan((*e)->number));
  e = parse_expression(R"(x{a="\u00e9\n", b='q', c=`raw\n`})");
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ((*e)->matchers[1].value, "\xc3\xa9\n");
  EXPECT_EQ((*e)->matchers[3].value, "raw\\n");
}

TEST(PromqlParser, AnchorsRegularExpressions) {
  auto e = parse_expression(R"(x{a=~"ab|c"})");
  ASSERT_TRUE(e.ok());
  const LabelMatcher& m = (*e)->matchers[1];
  EXPECT_TRUE(m.matches("ab"));
  EXPECT_TRUE(m.matches("c"));
  EXPECT_FALSE(m.matches("abc"));
  EXPECT_FALSE(m.matches("xab"));
}

TEST(PromqlParser, RejectsInvalidPromqlAsMalformed) {
  for (const char* q : {"",
                        "x{",
                        "rate(x)",
                        "rate(x[5m], 1)",
                        "nosuchfn(x)",
                        "1 > 2",
                        "x + on(a) 1",
                        "x[5m] + 1",
                        "sum(x[5m])",
                        "{a=\"\"}",
                        "x offset 5m[1m]",
                        "(x + y)[5m]",
                        "x{a=~\"(\"}",
                        "topk(x, y)",
                        "x and 1",
                        "a + bool b",
                        "x on(a) group_left(a) y",
                        "1 +",
                        "x{__name__=\"y\"}",
                        "x[5]"}) {
    auto e = parse_expression(q);
    ASSERT_FALSE(e.ok()) << q;
    EXPECT_EQ(e.status().code(), StatusCode::kMalformed) << q << ": " << e.status().message();
  }
}

TEST(PromqlParser, RefusesUnsupportedPromqlAsUnprocessableNamingIt) {
  const std::pair<const char*, const char*> cases[] = {
      {"rate(x[5m:1m])", "subquery"},
      {"x @ 100", "@ modifier"},
      {"x offset -5m", "negative offset"},
      {"x offset 20000y", "offset longer than 10000y"},
      {"rate(x[20000y])", "range longer than 10000y"},
      {"count_values(\"v\", x)", "count_values"},
      {"histogram_quantile(0.9, x)", "histogram_quantile"},
      {"label_replace(x, \"a\", \"b\", \"c\", \"d\")", "label_replace"},
  };
  for (const auto& [q, name] : cases) {
    auto e = parse_expression(q);
    ASSERT_FALSE(e.ok()) << q;
    EXPECT_EQ(e.status().code(), StatusCode::kUnprocessable) << q;
    EXPECT_NE(e.status().message().find(name), std::string::npos) << e.status().message();
  }
}

TEST(PromqlParser, RefusesDeepNestingInsteadOfOverflowingTheStack) {
  std::string q(10000, '(');
  EXPECT_EQ(parse_expression(q).status().code(), StatusCode::kMalformed);
  std::string minus(5000, '-');
  EXPECT_EQ(parse_expression(minus + "1").status().code(), StatusCode::kMalformed);
}

}  // namespace
}  // namespace fp::promql
