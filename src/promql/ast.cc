#include "promql/ast.h"

#include <re2/re2.h>

#include "promql/function_table.h"

namespace fp::promql {

std::string_view to_string(ValueType t) {
  switch (t) {
    case ValueType::kScalar:
      return "scalar";
    case ValueType::kVector:
      return "instant vector";
    case ValueType::kMatrix:
      return "range vector";
    case ValueType::kString:
      return "string";
  }
  return "?";
}

bool LabelMatcher::matches(std::string_view v) const {
  switch (op) {
    case Op::kEqual:
      return v == value;
    case Op::kNotEqual:
      return v != value;
    case Op::kRegex:
      return RE2::FullMatch(v, *re);
    case Op::kNotRegex:
      return !RE2::FullMatch(v, *re);
  }
  return false;
}

bool is_comparison(BinOp op) {
  return op >= BinOp::kEq && op <= BinOp::kLe;
}
bool is_set_operator(BinOp op) {
  return op >= BinOp::kAnd;
}

ValueType Expr::type() const {
  switch (kind) {
    case Kind::kNumber:
      return ValueType::kScalar;
    case Kind::kString:
      return ValueType::kString;
    case Kind::kVectorSelector:
      return ValueType::kVector;
    case Kind::kMatrixSelector:
      return ValueType::kMatrix;
    case Kind::kCall: {
      const FunctionInfo* f = find_function(text);
      return f ? f->returns : ValueType::kVector;
    }
    case Kind::kAggregate:
      return ValueType::kVector;
    case Kind::kBinary:
      return args[0]->type() == ValueType::kScalar && args[1]->type() == ValueType::kScalar
                 ? ValueType::kScalar
                 : ValueType::kVector;
    case Kind::kUnaryMinus:
    case Kind::kParen:
      return args[0]->type();
  }
  return ValueType::kVector;
}

}  // namespace fp::promql
