// Rule parsing and validation: every problem named by its field.

#include "alerting/rule.h"

#include <gtest/gtest.h>

namespace fp {
namespace {

std::vector<std::string> fields_of(std::string_view json) {
  std::vector<FieldError> errors;
  auto r = parse_rule(json, "", &errors);
  EXPECT_FALSE(r.ok());
  std::vector<std::string> out;
  for (const auto& e : errors) out.push_back(e.field);
  return out;
}

TEST(RuleTest, ParsesTheContractExample) {
  auto r = parse_rule(R"({"id":"r1","name":"hot","kind":"threshold","metric":"temperature",
      "op":">","threshold":50,"for":"0s","severity":"critical","scope":{"type":"temperature"},
      "enabled":true,"notify":[{"webhook":"http://203.0.113.5:9000/hook"}]})",
                      "");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->id, "r1");
  EXPECT_EQ(r->kind, RuleKind::kThreshold);
  EXPECT_EQ(r->op, CompareOp::kGt);
  EXPECT_EQ(*r->threshold, 50);
  EXPECT_EQ(r->severity, Severity::kCritical);
  EXPECT_EQ(*r->scope.type, "temperature");
  EXPECT_EQ(r->webhooks, std::vector<std::string>{"http://203.0.113.5:9000/hook"});
}

TEST(RuleTest, CanonicalJsonParsesBackToTheSameRule) {
  auto r = parse_rule(R"({"id":"r2","kind":"range","metric":"humidity","min":0,"max":100,
      "for":"5m","scope":{"devices":["a","b"],"location":"lab"}})",
                      "");
  ASSERT_TRUE(r.ok());
  auto again = parse_rule(rule_to_json(*r), "");
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(rule_to_json(*again), rule_to_json(*r));
  EXPECT_EQ(again->for_ms, 300'000);
  EXPECT_EQ(again->scope.devices, (std::vector<std::string>{"a", "b"}));
}

TEST(RuleTest, MissingKindAndBadFieldsAreAllNamed) {
  EXPECT_EQ(fields_of(R"({"metric":5,"severity":"loud","for":"soon"})"),
            (std::vector<std::string>{"kind", "metric", "for", "severity"}));
}

TEST(RuleTest, KindSpecificRequirements) {
  EXPECT_EQ(fields_of(R"({"kind":"threshold","metric":"t"})"),
            std::vector<std::string>{"threshold"});
  EXPECT_EQ(fields_of(R"({"kind":"threshold","threshold":1})"), std::vector<std::string>{"metric"});
  EXPECT_EQ(fields_of(R"({"kind":"range","metric":"t"})"), std::vector<std::string>{"min"});
  EXPECT_EQ(fields_of(R"({"kind":"range","metric":"t","min":5,"max":1})"),
            std::vector<std::string>{"min"});
  EXPECT_EQ(fields_of(R"({"kind":"absence"})"), std::vector<std::string>{"for"});
  EXPECT_EQ(fields_of(R"({"kind":"stuck","metric":"t"})"), std::vector<std::string>{"for"});
  EXPECT_EQ(fields_of(R"({"kind":"low_battery","threshold":120})"),
            std::vector<std::string>{"threshold"});
  EXPECT_EQ(fields_of(R"({"kind":"anomaly","metric":"t","alpha":1.5})"),
            std::vector<std::string>{"alpha"});
  EXPECT_EQ(fields_of(R"({"kind":"teleport"})"), std::vector<std::string>{"kind"});
}

TEST(RuleTest, WebhooksMustBeHttpUrls) {
  EXPECT_EQ(fields_of(R"({"kind":"offline","notify":[{"webhook":"ftp://x"}]})"),
            std::vector<std::string>{"notify[0].webhook"});
  EXPECT_EQ(fields_of(R"({"kind":"offline","notify":[{"url":"http://x"}]})"),
            std::vector<std::string>{"notify[0].webhook"});
  EXPECT_EQ(fields_of(R"({"kind":"offline","notify":"http://x"})"),
            std::vector<std::string>{"notify"});
}

TEST(RuleTest, PathIdWinsAndMustMatchTheBody) {
  auto r = parse_rule(R"({"kind":"offline"})", "from-path");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->id, "from-path");
  std::vector<FieldError> errors;
  EXPECT_FALSE(parse_rule(R"({"id":"other","kind":"offline"})", "from-path", &errors).ok());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].field, "id");
}

TEST(RuleTest, NotJsonIsMalformedAndNotAnObjectIsUnprocessable) {
  EXPECT_EQ(parse_rule("{", "").status().code(), StatusCode::kMalformed);
  EXPECT_EQ(parse_rule("[1]", "").status().code(), StatusCode::kUnprocessable);
}

}  // namespace
}  // namespace fp
