#include "promql/parser.h"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include "promql/function_table.h"
#include "promql/labels.h"
#include "promql/lexer.h"

namespace fp::promql {
namespace {

constexpr int kMaxDepth = 200;
// Longer ranges and offsets are refused (422) so that time arithmetic cannot overflow.
constexpr int64_t kMaxDurationMs = 10'000LL * 365 * 86'400'000;

struct AggName {
  std::string_view name;
  AggOp op;
};
constexpr AggName kAggregations[] = {
    {"sum", AggOp::kSum},         {"avg", AggOp::kAvg},           {"min", AggOp::kMin},
    {"max", AggOp::kMax},         {"count", AggOp::kCount},       {"group", AggOp::kGroup},
    {"stddev", AggOp::kStddev},   {"stdvar", AggOp::kStdvar},     {"topk", AggOp::kTopk},
    {"bottomk", AggOp::kBottomk}, {"quantile", AggOp::kQuantile},
};

std::string lower(std::string_view s) {
  std::string o(s);
  for (char& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

bool valid_label_name(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (!(c == '_' || std::isalpha((unsigned char)c) || (i > 0 && std::isdigit((unsigned char)c))))
      return false;
  }
  return true;
}

int precedence(Tok t) {
  switch (t) {
    case Tok::kOr:
      return 1;
    case Tok::kAnd:
    case Tok::kUnless:
      return 2;
    case Tok::kEqlc:
    case Tok::kNeq:
    case Tok::kGtr:
    case Tok::kLss:
    case Tok::kGte:
    case Tok::kLte:
      return 3;
    case Tok::kAdd:
    case Tok::kSub:
      return 4;
    case Tok::kMul:
    case Tok::kDiv:
    case Tok::kMod:
    case Tok::kAtan2:
      return 5;
    case Tok::kPow:
      return 6;
    default:
      return 0;
  }
}

BinOp bin_op(Tok t) {
  switch (t) {
    case Tok::kOr:
      return BinOp::kOr;
    case Tok::kAnd:
      return BinOp::kAnd;
    case Tok::kUnless:
      return BinOp::kUnless;
    case Tok::kEqlc:
      return BinOp::kEq;
    case Tok::kNeq:
      return BinOp::kNe;
    case Tok::kGtr:
      return BinOp::kGt;
    case Tok::kLss:
      return BinOp::kLt;
    case Tok::kGte:
      return BinOp::kGe;
    case Tok::kLte:
      return BinOp::kLe;
    case Tok::kAdd:
      return BinOp::kAdd;
    case Tok::kSub:
      return BinOp::kSub;
    case Tok::kMul:
      return BinOp::kMul;
    case Tok::kDiv:
      return BinOp::kDiv;
    case Tok::kMod:
      return BinOp::kMod;
    case Tok::kAtan2:
      return BinOp::kAtan2;
    default:
      return BinOp::kPow;
  }
}

std::string_view op_text(BinOp op) {
  static constexpr std::string_view names[] = {"+",     "-",   "*",  "/",     "%", "^",
                                               "atan2", "==",  "!=", ">",     "<", ">=",
                                               "<=",    "and", "or", "unless"};
  return names[static_cast<int>(op)];
}

double parse_number(const std::string& s) {
  const std::string l = lower(s);
  if (l == "inf" || l == "+inf") return INFINITY;
  if (l == "nan") return NAN;
  if (l.size() > 2 && l[0] == '0' && l[1] == 'x')
    return static_cast<double>(std::strtoull(s.c_str() + 2, nullptr, 16));
  return std::strtod(s.c_str(), nullptr);
}

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  Result<ExprPtr> parse_all() {
    auto e = expr(1);
    if (!e.ok()) return e;
    if (peek().kind != Tok::kEnd) return unexpected("end of input");
    return e;
  }

  Result<ExprPtr> parse_selector_only() {
    auto e = primary_selector();
    if (!e.ok()) return e;
    if (peek().kind != Tok::kEnd) return unexpected("end of input");
    return e;
  }

 private:
  const Token& peek(size_t k = 0) const { return t_[std::min(pos_ + k, t_.size() - 1)]; }
  const Token& next() { return t_[std::min(pos_++, t_.size() - 1)]; }
  bool accept(Tok k) {
    if (peek().kind != k) return false;
    ++pos_;
    return true;
  }

  Status err(size_t at, const std::string& msg) const {
    return Status::Malformed("1:" + std::to_string(at + 1) + ": parse error: " + msg);
  }
  Status unexpected(const std::string& wanted) const {
    const Token& tk = peek();
    std::string got = tk.kind == Tok::kEnd ? "end of input" : "\"" + token_text(tk) + "\"";
    return err(tk.pos, "unexpected " + got + ", expected " + wanted);
  }
  static std::string token_text(const Token& tk) {
    if (!tk.text.empty()) return tk.text;
    switch (tk.kind) {
      case Tok::kLParen:
        return "(";
      case Tok::kRParen:
        return ")";
      case Tok::kLBrace:
        return "{";
      case Tok::kRBrace:
        return "}";
      case Tok::kLBracket:
        return "[";
      case Tok::kRBracket:
        return "]";
      case Tok::kComma:
        return ",";
      case Tok::kColon:
        return ":";
      case Tok::kAt:
        return "@";
      case Tok::kAssign:
        return "=";
      default:
        return std::string(op_text(bin_op(tk.kind)));
    }
  }
  static Status unsupported(const std::string& what) {
    return Status::Unprocessable(what + " is not supported by fleetpulse's PromQL engine");
  }

  Result<ExprPtr> expr(int min_prec) {
    if (++depth_ > kMaxDepth) return err(peek().pos, "expression nests too deeply");
    auto lhs = unary();
    if (!lhs.ok()) return lhs;
    ExprPtr left = std::move(*lhs);
    while (true) {
      const Tok k = peek().kind;
      const int p = precedence(k);
      if (p == 0 || p < min_prec) break;
      const size_t op_pos = peek().pos;
      next();
      auto node = std::make_unique<Expr>();
      node->kind = Expr::Kind::kBinary;
      node->op = bin_op(k);
      if (accept(Tok::kBool)) node->return_bool = true;
      bool has_modifiers = false;
      if (peek().kind == Tok::kOn || peek().kind == Tok::kIgnoring) {
        has_modifiers = true;
        node->matching.on = next().kind == Tok::kOn;
        auto ls = label_list();
        if (!ls.ok()) return ls.status();
        node->matching.labels = std::move(*ls);
        if (peek().kind == Tok::kGroupLeft || peek().kind == Tok::kGroupRight) {
          node->matching.card = next().kind == Tok::kGroupLeft ? VectorMatching::Card::kManyToOne
                                                               : VectorMatching::Card::kOneToMany;
          if (peek().kind == Tok::kLParen) {
            auto inc = label_list();
            if (!inc.ok()) return inc.status();
            node->matching.include = std::move(*inc);
          }
        }
      } else if (peek().kind == Tok::kGroupLeft || peek().kind == Tok::kGroupRight) {
        return unexpected("on or ignoring before group_left/group_right");
      }
      // ^ is right-associative; every other operator is left-associative.
      auto rhs = expr(k == Tok::kPow ? p : p + 1);
      if (!rhs.ok()) return rhs;
      node->args.push_back(std::move(left));
      node->args.push_back(std::move(*rhs));
      if (auto s = check_binary(*node, has_modifiers, op_pos); !s.ok()) return s;
      left = std::move(node);
    }
    --depth_;
    return left;
  }

  Status check_binary(Expr& n, bool has_modifiers, size_t pos) {
    const ValueType lt = n.args[0]->type(), rt = n.args[1]->type();
    auto ok_type = [](ValueType t) { return t == ValueType::kScalar || t == ValueType::kVector; };
    if (!ok_type(lt) || !ok_type(rt))
      return err(pos, "binary expression must contain only scalar and instant vector types");
    if (n.return_bool && !is_comparison(n.op))
      return err(pos, "bool modifier can only be used on comparison operators");
    if (is_comparison(n.op) && !n.return_bool && lt == ValueType::kScalar &&
        rt == ValueType::kScalar)
      return err(pos, "comparisons between scalars must use BOOL modifier");
    if (is_set_operator(n.op) && (lt == ValueType::kScalar || rt == ValueType::kScalar))
      return err(pos, "set operator \"" + std::string(op_text(n.op)) +
                          "\" not allowed in binary scalar expression");
    const bool both_vectors = lt == ValueType::kVector && rt == ValueType::kVector;
    if (has_modifiers && !both_vectors)
      return err(pos, "vector matching only allowed between instant vectors");
    if (both_vectors) {
      n.has_matching = true;
      if (is_set_operator(n.op)) {
        if (n.matching.card == VectorMatching::Card::kManyToOne ||
            n.matching.card == VectorMatching::Card::kOneToMany)
          return err(pos,
                     "no grouping allowed for \"" + std::string(op_text(n.op)) + "\" operation");
        n.matching.card = VectorMatching::Card::kManyToMany;
      }
      if (n.matching.on)
        for (const auto& l : n.matching.include)
          if (std::find(n.matching.labels.begin(), n.matching.labels.end(), l) !=
              n.matching.labels.end())
            return err(pos, "label \"" + l + "\" must not occur in ON and GROUP clause at once");
    }
    return Status::Ok();
  }

  Result<ExprPtr> unary() {
    if (peek().kind == Tok::kSub || peek().kind == Tok::kAdd) {
      const bool minus = next().kind == Tok::kSub;
      const size_t pos = peek().pos;
      auto operand = expr(6);  // binds like '*': only '^' binds tighter
      if (!operand.ok()) return operand;
      ExprPtr e = std::move(*operand);
      const ValueType t = e->type();
      if (t != ValueType::kScalar && t != ValueType::kVector)
        return err(pos,
                   "unary expression only allowed on expressions of type scalar or "
                   "instant vector, got \"" +
                       std::string(to_string(t)) + "\"");
      if (!minus) return e;
      if (e->kind == Expr::Kind::kNumber) {
        e->number = -e->number;
        return e;
      }
      auto u = std::make_unique<Expr>();
      u->kind = Expr::Kind::kUnaryMinus;
      u->args.push_back(std::move(e));
      return u;
    }
    auto p = primary();
    if (!p.ok()) return p;
    return postfix(std::move(*p));
  }

  // [range], [range:step], offset, @ after a primary expression.
  Result<ExprPtr> postfix(ExprPtr e) {
    while (true) {
      const Token& tk = peek();
      if (tk.kind == Tok::kLBracket) {
        next();
        const Token& d = peek();
        if (d.kind != Tok::kDuration) return unexpected("duration in range");
        next();
        if (peek().kind == Tok::kColon) return unsupported("subquery");
        if (!accept(Tok::kRBracket)) return unexpected("\"]\"");
        if (e->kind != Expr::Kind::kVectorSelector)
          return err(tk.pos, "ranges only allowed for vector selectors");
        if (e->offset_ms != 0) return err(tk.pos, "no offset modifiers allowed before range");
        e->kind = Expr::Kind::kMatrixSelector;
        e->range_ms = parse_duration(d.text);
        if (e->range_ms <= 0) return err(d.pos, "range must be positive");
        if (e->range_ms > kMaxDurationMs) return unsupported("a range longer than 10000y");
        continue;
      }
      if (tk.kind == Tok::kOffset) {
        next();
        if (peek().kind == Tok::kSub) return unsupported("negative offset");
        if (peek().kind != Tok::kDuration) return unexpected("duration after offset");
        const int64_t off = parse_duration(next().text);
        if (off > kMaxDurationMs) return unsupported("an offset longer than 10000y");
        if (e->kind != Expr::Kind::kVectorSelector && e->kind != Expr::Kind::kMatrixSelector)
          return err(tk.pos,
                     "offset modifier must be preceded by an instant vector selector or "
                     "range vector selector or a subquery");
        if (e->offset_ms != 0) return err(tk.pos, "offset may not be set multiple times");
        e->offset_ms = off;
        continue;
      }
      if (tk.kind == Tok::kAt) return unsupported("the @ modifier");
      return e;
    }
  }

  Result<std::vector<std::string>> label_list() {
    if (!accept(Tok::kLParen)) return unexpected("\"(\"");
    std::vector<std::string> out;
    while (peek().kind != Tok::kRParen) {
      const Token& tk = peek();
      if (tk.kind == Tok::kEnd || tk.text.empty() || !valid_label_name(tk.text))
        return unexpected("label name");
      out.push_back(next().text);
      if (!accept(Tok::kComma)) break;
    }
    if (!accept(Tok::kRParen)) return unexpected("\")\"");
    return out;
  }

  Result<ExprPtr> primary() {
    const Token& tk = peek();
    switch (tk.kind) {
      case Tok::kNumber: {
        auto e = std::make_unique<Expr>();
        e->kind = Expr::Kind::kNumber;
        e->number = parse_number(next().text);
        return e;
      }
      case Tok::kString: {
        auto e = std::make_unique<Expr>();
        e->kind = Expr::Kind::kString;
        e->text = next().text;
        return e;
      }
      case Tok::kLParen: {
        next();
        auto inner = expr(1);
        if (!inner.ok()) return inner;
        if (!accept(Tok::kRParen)) return unexpected("\")\"");
        auto e = std::make_unique<Expr>();
        e->kind = Expr::Kind::kParen;
        e->args.push_back(std::move(*inner));
        return e;
      }
      case Tok::kLBrace:
        return primary_selector();
      case Tok::kIdentifier: {
        const std::string lw = lower(tk.text);
        for (const auto& a : kAggregations)
          if (a.name == lw && (peek(1).kind == Tok::kLParen || peek(1).kind == Tok::kBy ||
                               peek(1).kind == Tok::kWithout))
            return aggregate(a.op);
        if (lw == "count_values" && peek(1).kind != Tok::kLBrace)
          return unsupported("the aggregation count_values");
        if (peek(1).kind == Tok::kLParen) return call();
        return primary_selector();
      }
      default:
        return unexpected("expression");
    }
  }

  Result<ExprPtr> call() {
    const Token& name = next();
    const FunctionInfo* f = find_function(name.text);
    if (!f) return err(name.pos, "unknown function with name \"" + name.text + "\"");
    next();  // (
    auto e = std::make_unique<Expr>();
    e->kind = Expr::Kind::kCall;
    e->text = name.text;
    while (peek().kind != Tok::kRParen) {
      auto a = expr(1);
      if (!a.ok()) return a;
      e->args.push_back(std::move(*a));
      if (!accept(Tok::kComma)) break;
    }
    if (!accept(Tok::kRParen)) return unexpected("\")\" or \",\" in call to " + name.text);
    const size_t want = f->args.size(), got = e->args.size();
    const bool variadic = f->optional_args < 0;
    const size_t min_args = variadic ? want - 1 : want - static_cast<size_t>(f->optional_args);
    if (got < min_args || (!variadic && got > want))
      return err(name.pos, "expected " + std::to_string(want) + " argument(s) in call to \"" +
                               name.text + "\", got " + std::to_string(got));
    for (size_t i = 0; i < got; ++i) {
      const ValueType expect = f->args[std::min(i, want - 1)];
      const ValueType have = e->args[i]->type();
      if (have != expect)
        return err(name.pos, "expected type " + std::string(to_string(expect)) +
                                 " in call to function \"" + name.text + "\", got " +
                                 std::string(to_string(have)));
    }
    if (!f->supported) return unsupported("the function " + name.text + "()");
    return e;
  }

  Result<ExprPtr> aggregate(AggOp op) {
    const Token& name = next();
    auto e = std::make_unique<Expr>();
    e->kind = Expr::Kind::kAggregate;
    e->agg = op;
    bool grouped = false;
    auto grouping = [&]() -> Status {
      if (peek().kind != Tok::kBy && peek().kind != Tok::kWithout) return Status::Ok();
      if (grouped) return unexpected("\"(\"");
      grouped = true;
      e->without = next().kind == Tok::kWithout;
      auto ls = label_list();
      if (!ls.ok()) return ls.status();
      e->grouping = std::move(*ls);
      return Status::Ok();
    };
    if (auto s = grouping(); !s.ok()) return s;
    if (!accept(Tok::kLParen)) return unexpected("\"(\"");
    std::vector<ExprPtr> args;
    while (peek().kind != Tok::kRParen) {
      auto a = expr(1);
      if (!a.ok()) return a;
      args.push_back(std::move(*a));
      if (!accept(Tok::kComma)) break;
    }
    if (!accept(Tok::kRParen)) return unexpected("\")\" or \",\" in aggregation");
    if (auto s = grouping(); !s.ok()) return s;
    const bool has_param = op == AggOp::kTopk || op == AggOp::kBottomk || op == AggOp::kQuantile;
    const size_t want = has_param ? 2 : 1;
    if (args.size() != want)
      return err(name.pos,
                 "wrong number of arguments for aggregate expression provided, "
                 "expected " +
                     std::to_string(want) + ", got " + std::to_string(args.size()));
    if (has_param) {
      if (args[0]->type() != ValueType::kScalar)
        return err(name.pos, "expected type scalar in aggregation parameter, got " +
                                 std::string(to_string(args[0]->type())));
      e->param = std::move(args[0]);
    }
    ExprPtr inner = std::move(args.back());
    if (inner->type() != ValueType::kVector)
      return err(name.pos, "expected type instant vector in aggregation expression, got " +
                               std::string(to_string(inner->type())));
    e->args.push_back(std::move(inner));
    return e;
  }

  // metric_name, metric_name{matchers}, {matchers}
  Result<ExprPtr> primary_selector() {
    auto e = std::make_unique<Expr>();
    e->kind = Expr::Kind::kVectorSelector;
    const size_t pos = peek().pos;
    bool has_name = false;
    if (peek().kind == Tok::kIdentifier) {
      LabelMatcher m;
      m.name = std::string(kMetricName);
      m.value = next().text;
      e->matchers.push_back(std::move(m));
      has_name = true;
    }
    if (accept(Tok::kLBrace)) {
      while (peek().kind != Tok::kRBrace) {
        const Token& ln = peek();
        if (ln.kind != Tok::kIdentifier || !valid_label_name(ln.text))
          return unexpected("label matching");
        next();
        LabelMatcher m;
        m.name = ln.text;
        switch (next().kind) {
          case Tok::kAssign:
            m.op = LabelMatcher::Op::kEqual;
            break;
          case Tok::kNeq:
            m.op = LabelMatcher::Op::kNotEqual;
            break;
          case Tok::kRegexMatch:
            m.op = LabelMatcher::Op::kRegex;
            break;
          case Tok::kRegexNoMatch:
            m.op = LabelMatcher::Op::kNotRegex;
            break;
          default:
            --pos_;
            return unexpected("label matching operator");
        }
        if (peek().kind != Tok::kString) return unexpected("label value string");
        m.value = next().text;
        if (m.op == LabelMatcher::Op::kRegex || m.op == LabelMatcher::Op::kNotRegex) {
          RE2::Options opt;
          opt.set_log_errors(false);
          auto re = std::make_shared<RE2>("^(?:" + m.value + ")$", opt);
          if (!re->ok())
            return err(ln.pos, "invalid regular expression \"" + m.value + "\": " + re->error());
          m.re = std::move(re);
        }
        if (m.name == kMetricName && has_name)
          return err(ln.pos, "metric name must not be set twice: \"" + e->matchers[0].value +
                                 "\" or \"" + m.value + "\"");
        e->matchers.push_back(std::move(m));
        if (!accept(Tok::kComma)) break;
      }
      if (!accept(Tok::kRBrace)) return unexpected("\"}\"");
    } else if (!has_name) {
      return unexpected("selector");
    }
    const bool any_nonempty = std::any_of(e->matchers.begin(), e->matchers.end(),
                                          [](const LabelMatcher& m) { return !m.matches(""); });
    if (!any_nonempty)
      return err(pos, "vector selector must contain at least one non-empty matcher");
    return e;
  }

  std::vector<Token> t_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

Result<ExprPtr> parse_expression(std::string_view input) {
  if (input.size() > kMaxExpressionBytes)
    return Status::Malformed("expression is longer than " + std::to_string(kMaxExpressionBytes) +
                             " bytes");
  auto toks = lex(input);
  if (!toks.ok()) return toks.status();
  if (toks->size() == 1) return Status::Malformed("1:1: parse error: no expression found in input");
  return Parser(std::move(*toks)).parse_all();
}

Result<ExprPtr> parse_selector(std::string_view input) {
  if (input.size() > kMaxExpressionBytes) return Status::Malformed("selector is too long");
  auto toks = lex(input);
  if (!toks.ok()) return toks.status();
  return Parser(std::move(*toks)).parse_selector_only();
}

}  // namespace fp::promql
