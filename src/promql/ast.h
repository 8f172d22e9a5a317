#pragma once
// The PromQL syntax tree the parser builds and the engine evaluates. Nodes own their
// children; a tree is immutable once parsed and may be evaluated from any thread.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace re2 {
class RE2;
}

namespace fp::promql {

enum class ValueType { kScalar, kVector, kMatrix, kString };
std::string_view to_string(ValueType t);  // "scalar", "instant vector", ...

// A label matcher; regular expressions are RE2, fully anchored as Prometheus anchors them.
struct LabelMatcher {
  enum class Op { kEqual, kNotEqual, kRegex, kNotRegex };
  Op op = Op::kEqual;
  std::string name;
  std::string value;
  std::shared_ptr<const re2::RE2> re;  // kRegex / kNotRegex

  bool matches(std::string_view v) const;
};

enum class BinOp {
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kPow,
  kAtan2,
  kEq,
  kNe,
  kGt,
  kLt,
  kGe,
  kLe,
  kAnd,
  kOr,
  kUnless,
};
bool is_comparison(BinOp op);
bool is_set_operator(BinOp op);

enum class AggOp {
  kSum,
  kAvg,
  kMin,
  kMax,
  kCount,
  kGroup,
  kStddev,
  kStdvar,
  kTopk,
  kBottomk,
  kQuantile
};

// on(...) / ignoring(...) and group_left/group_right of a binary operation between vectors.
struct VectorMatching {
  enum class Card { kOneToOne, kManyToOne, kOneToMany, kManyToMany };
  Card card = Card::kOneToOne;
  bool on = false;                   // on(...) rather than ignoring(...)
  std::vector<std::string> labels;   // the on/ignoring labels
  std::vector<std::string> include;  // group_left/group_right labels
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kNumber,
    kString,
    kVectorSelector,
    kMatrixSelector,
    kCall,
    kAggregate,
    kBinary,
    kUnaryMinus,
    kParen
  };
  Kind kind = Kind::kNumber;

  double number = 0;  // kNumber
  std::string text;   // kString: the literal; kCall: the function name

  // kVectorSelector / kMatrixSelector (the matrix form carries range_ms > 0).
  std::vector<LabelMatcher> matchers;  // includes __name__ when a name was given
  int64_t offset_ms = 0;
  int64_t range_ms = 0;

  // kCall: arguments; kAggregate: args[0] the expression, param the k / quantile.
  std::vector<ExprPtr> args;
  AggOp agg = AggOp::kSum;
  ExprPtr param;
  std::vector<std::string> grouping;
  bool without = false;

  // kBinary: args[0] op args[1]. kUnaryMinus / kParen: args[0].
  BinOp op = BinOp::kAdd;
  bool return_bool = false;
  bool has_matching = false;  // operands are both vectors
  VectorMatching matching;

  ValueType type() const;
};

}  // namespace fp::promql
