#pragma once
// The PromQL parser: a recursive-descent parser over the lexer's tokens that follows the
// operator precedence and the type checks of Prometheus 2.42's grammar
// (promql/parser/generated_parser.y and parse.go's checkAST). There is no C++ PromQL grammar
// in Debian, so this small hand parser mirrors that yacc grammar rule by rule.
//
// Errors: kMalformed for what Prometheus also rejects (syntax, types, unknown functions;
// answered 400 bad_data); kUnprocessable naming the construct for valid PromQL that
// fleetpulse does not evaluate (subqueries, @, count_values, unsupported functions; 422).
// Thread-safe: no shared state.

#include <string_view>

#include "promql/ast.h"
#include "util/result.h"

namespace fp::promql {

// Longest accepted expression, in bytes (deeper nesting than the length allows is refused too).
inline constexpr size_t kMaxExpressionBytes = 64 * 1024;

Result<ExprPtr> parse_expression(std::string_view input);

// A series selector alone (the match[] of /series, /labels): a vector selector without range,
// offset or anything around it.
Result<ExprPtr> parse_selector(std::string_view input);

}  // namespace fp::promql
