#include "promql/lexer.h"

#include <cctype>
#include <map>

namespace fp::promql {
namespace {

bool is_alpha(char c) {
  return c == '_' || std::isalpha(static_cast<unsigned char>(c));
}
bool is_alnum(char c) {
  return is_alpha(c) || std::isdigit(static_cast<unsigned char>(c));
}

const std::map<std::string, Tok>& keywords() {
  static const std::map<std::string, Tok> k = {
      {"and", Tok::kAnd},
      {"or", Tok::kOr},
      {"unless", Tok::kUnless},
      {"atan2", Tok::kAtan2},
      {"offset", Tok::kOffset},
      {"by", Tok::kBy},
      {"without", Tok::kWithout},
      {"on", Tok::kOn},
      {"ignoring", Tok::kIgnoring},
      {"group_left", Tok::kGroupLeft},
      {"group_right", Tok::kGroupRight},
      {"bool", Tok::kBool},
  };
  return k;
}

std::string lower(std::string_view s) {
  std::string o(s);
  for (char& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

Status error_at(size_t pos, const std::string& what) {
  return Status::Malformed("1:" + std::to_string(pos + 1) + ": parse error: " + what);
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads a quoted string starting at in[i] (the quote); Go escapes for "" and ''.
Result<std::string> read_string(std::string_view in, size_t& i) {
  const char quote = in[i];
  const size_t start = i;
  std::string out;
  ++i;
  while (true) {
    if (i >= in.size()) return error_at(start, "unterminated quoted string");
    char c = in[i++];
    if (c == quote) return out;
    if (quote == '`') {
      out += c;
      continue;
    }
    if (c == '\n') return error_at(start, "unterminated quoted string");
    if (c != '\\') {
      out += c;
      continue;
    }
    if (i >= in.size()) return error_at(start, "unterminated quoted string");
    c = in[i++];
    switch (c) {
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case '\\':
        out += '\\';
        break;
      case '"':
      case '\'':
        if (c != quote) return error_at(i - 2, "unknown escape sequence");
        out += c;
        break;
      case 'x':
      case 'u':
      case 'U': {
        const int n = c == 'x' ? 2 : c == 'u' ? 4 : 8;
        uint32_t cp = 0;
        for (int k = 0; k < n; ++k) {
          if (i >= in.size() || hex_digit(in[i]) < 0)
            return error_at(i, "illegal character in escape sequence");
          cp = cp * 16 + static_cast<uint32_t>(hex_digit(in[i++]));
        }
        if (c == 'x') {
          out += static_cast<char>(cp);
        } else {
          if (cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))
            return error_at(i, "escape sequence is an invalid Unicode code point");
          append_utf8(out, cp);
        }
        break;
      }
      default:
        if (c >= '0' && c <= '7') {
          uint32_t v = static_cast<uint32_t>(c - '0');
          for (int k = 0; k < 2; ++k) {
            if (i >= in.size() || in[i] < '0' || in[i] > '7')
              return error_at(i, "illegal character in escape sequence");
            v = v * 8 + static_cast<uint32_t>(in[i++] - '0');
          }
          if (v > 255) return error_at(i, "octal escape value > 255");
          out += static_cast<char>(v);
          break;
        }
        return error_at(i - 2, "unknown escape sequence");
    }
  }
}

// Scans a number (Go strconv.ParseFloat syntax, as the Prometheus lexer accepts it).
size_t scan_number(std::string_view in, size_t i) {
  size_t j = i;
  bool hex = false;
  if (j + 1 < in.size() && in[j] == '0' && (in[j + 1] == 'x' || in[j + 1] == 'X')) {
    hex = true;
    j += 2;
  }
  auto digit = [&](char c) { return hex ? hex_digit(c) >= 0 : std::isdigit((unsigned char)c); };
  while (j < in.size() && digit(in[j])) ++j;
  if (!hex && j < in.size() && in[j] == '.') {
    ++j;
    while (j < in.size() && std::isdigit((unsigned char)in[j])) ++j;
  }
  if (!hex && j < in.size() && (in[j] == 'e' || in[j] == 'E')) {
    size_t k = j + 1;
    if (k < in.size() && (in[k] == '+' || in[k] == '-')) ++k;
    if (k < in.size() && std::isdigit((unsigned char)in[k])) {
      while (k < in.size() && std::isdigit((unsigned char)in[k])) ++k;
      j = k;
    }
  }
  return j;
}

}  // namespace

int64_t parse_duration(std::string_view s) {
  static const std::pair<std::string_view, int64_t> units[] = {{"y", 365LL * 86'400'000},
                                                               {"w", 7LL * 86'400'000},
                                                               {"d", 86'400'000},
                                                               {"h", 3'600'000},
                                                               {"m", 60'000},
                                                               {"s", 1000},
                                                               {"ms", 1}};
  if (s.empty()) return -1;
  int64_t total = 0;
  size_t next_unit = 0;
  size_t i = 0;
  while (i < s.size()) {
    if (!std::isdigit((unsigned char)s[i])) return -1;
    int64_t n = 0;
    while (i < s.size() && std::isdigit((unsigned char)s[i])) {
      if (n > INT64_MAX / 10 - 10) return -1;
      n = n * 10 + (s[i++] - '0');
    }
    size_t u = i;
    while (u < s.size() && std::isalpha((unsigned char)s[u])) ++u;
    std::string_view unit = s.substr(i, u - i);
    i = u;
    bool found = false;
    for (size_t k = next_unit; k < std::size(units); ++k) {
      if (units[k].first == unit) {
        if (n != 0 && units[k].second > INT64_MAX / n) return -1;
        total += n * units[k].second;
        if (total < 0) return -1;
        next_unit = k + 1;
        found = true;
        break;
      }
    }
    if (!found) return -1;
  }
  return total;
}

Result<std::vector<Token>> lex(std::string_view in) {
  std::vector<Token> out;
  int brace_depth = 0;
  bool in_brackets = false;  // a range or subquery: ':' separates, it starts no name
  size_t i = 0;
  auto emit = [&](Tok k, size_t pos, std::string text = {}) {
    out.push_back(Token{k, std::move(text), pos});
  };
  while (i < in.size()) {
    const char c = in[i];
    const size_t pos = i;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++i;
      continue;
    }
    if (c == '#') {
      while (i < in.size() && in[i] != '\n') ++i;
      continue;
    }
    if (std::isdigit((unsigned char)c) ||
        (c == '.' && i + 1 < in.size() && std::isdigit((unsigned char)in[i + 1]))) {
      size_t j = scan_number(in, i);
      // A number directly followed by a unit letter is a duration.
      if (j < in.size() && std::isalpha((unsigned char)in[j])) {
        size_t k = i;
        while (k < in.size() && is_alnum(in[k])) ++k;
        std::string_view word = in.substr(i, k - i);
        if (parse_duration(word) < 0)
          return error_at(pos, "bad number or duration syntax: \"" + std::string(word) + "\"");
        emit(Tok::kDuration, pos, std::string(word));
        i = k;
        continue;
      }
      if (j < in.size() && (is_alnum(in[j]) || in[j] == '.'))
        return error_at(
            pos, "bad number or duration syntax: \"" + std::string(in.substr(i, j + 1 - i)) + "\"");
      emit(Tok::kNumber, pos, std::string(in.substr(i, j - i)));
      i = j;
      continue;
    }
    if (is_alpha(c) || (c == ':' && !in_brackets)) {
      size_t j = i;
      while (j < in.size() && (is_alnum(in[j]) || in[j] == ':')) ++j;
      std::string word(in.substr(i, j - i));
      i = j;
      if (brace_depth > 0) {
        if (word.find(':') != std::string::npos)
          return error_at(pos, "unexpected character inside braces: ':'");
        emit(Tok::kIdentifier, pos, word);
        continue;
      }
      const std::string lw = lower(word);
      if (auto k = keywords().find(lw); k != keywords().end()) {
        emit(k->second, pos, word);
      } else if (lw == "inf" || lw == "nan") {
        emit(Tok::kNumber, pos, word);
      } else {
        emit(Tok::kIdentifier, pos, word);
      }
      continue;
    }
    if (c == '"' || c == '\'' || c == '`') {
      auto s = read_string(in, i);
      if (!s.ok()) return s.status();
      emit(Tok::kString, pos, std::move(*s));
      continue;
    }
    ++i;
    auto two = [&](char next) { return i < in.size() && in[i] == next; };
    switch (c) {
      case '(':
        emit(Tok::kLParen, pos);
        break;
      case ')':
        emit(Tok::kRParen, pos);
        break;
      case '{':
        ++brace_depth;
        emit(Tok::kLBrace, pos);
        break;
      case '}':
        if (brace_depth == 0) return error_at(pos, "unexpected right brace '}'");
        --brace_depth;
        emit(Tok::kRBrace, pos);
        break;
      case '[':
        in_brackets = true;
        emit(Tok::kLBracket, pos);
        break;
      case ']':
        in_brackets = false;
        emit(Tok::kRBracket, pos);
        break;
      case ',':
        emit(Tok::kComma, pos);
        break;
      case ':':
        emit(Tok::kColon, pos);
        break;
      case '@':
        emit(Tok::kAt, pos);
        break;
      case '+':
        emit(Tok::kAdd, pos);
        break;
      case '-':
        emit(Tok::kSub, pos);
        break;
      case '*':
        emit(Tok::kMul, pos);
        break;
      case '/':
        emit(Tok::kDiv, pos);
        break;
      case '%':
        emit(Tok::kMod, pos);
        break;
      case '^':
        emit(Tok::kPow, pos);
        break;
      case '=':
        if (two('=')) {
          ++i;
          emit(Tok::kEqlc, pos);
        } else if (two('~')) {
          ++i;
          emit(Tok::kRegexMatch, pos);
        } else {
          emit(Tok::kAssign, pos);
        }
        break;
      case '!':
        if (two('=')) {
          ++i;
          emit(Tok::kNeq, pos);
        } else if (two('~')) {
          ++i;
          emit(Tok::kRegexNoMatch, pos);
        } else {
          return error_at(pos, "unexpected character after '!'");
        }
        break;
      case '>':
        if (two('=')) {
          ++i;
          emit(Tok::kGte, pos);
        } else {
          emit(Tok::kGtr, pos);
        }
        break;
      case '<':
        if (two('=')) {
          ++i;
          emit(Tok::kLte, pos);
        } else {
          emit(Tok::kLss, pos);
        }
        break;
      default:
        return error_at(pos, "unexpected character: '" + std::string(1, c) + "'");
    }
  }
  if (brace_depth > 0) return error_at(in.size(), "unexpected end of input inside braces");
  emit(Tok::kEnd, in.size());
  return out;
}

}  // namespace fp::promql
