#pragma once
// The PromQL lexer: splits an expression into tokens as Prometheus 2.42's lexer does
// (promql/parser/lex.go): numbers (decimal, hex, exponent, Inf, NaN), durations (1h30m),
// strings in "", '' (with Go escapes) and `` (raw), identifiers (metric names may hold ':'),
// case-insensitive keywords, operators and '#' comments.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace fp::promql {

enum class Tok {
  kEnd,
  kIdentifier,
  kNumber,
  kDuration,
  kString,
  kLParen,
  kRParen,
  kLBrace,
  kRBrace,
  kLBracket,
  kRBracket,
  kComma,
  kColon,
  kAt,
  kAssign,  // '=' inside braces
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kPow,
  kEqlc,
  kNeq,
  kGtr,
  kLss,
  kGte,
  kLte,
  kRegexMatch,
  kRegexNoMatch,
  // Keywords (matched case-insensitively).
  kAnd,
  kOr,
  kUnless,
  kAtan2,
  kOffset,
  kBy,
  kWithout,
  kOn,
  kIgnoring,
  kGroupLeft,
  kGroupRight,
  kBool,
};

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;  // identifiers as written; strings unquoted; numbers/durations as written
  size_t pos = 0;    // byte offset in the input
};

// All tokens of `input`, ending with kEnd; kMalformed with the position on a lexical error.
Result<std::vector<Token>> lex(std::string_view input);

// "5m", "1h30m", "1y": milliseconds, or -1 when not a valid Prometheus duration.
int64_t parse_duration(std::string_view s);

}  // namespace fp::promql
