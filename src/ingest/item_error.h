#pragma once
// ItemError: why one item of a batch (a JSON reading, a line of line protocol) was rejected.
// Decoders report these next to the batch they fill; the transport turns them into
// `{"index":i,"error":"..."}` entries (HTTP) or counts (MQTT).

#include <cstddef>
#include <string>
#include <string_view>

namespace fp {

struct ItemError {
  size_t index;         // position in the JSON array (0 for a single reading), or the 0-based
                        // line number in a line protocol body
  std::string message;  // names the offending field; does not repeat the index
};

// Quotes a piece of client input for an error message: in single quotes, cut after 64 bytes
// (marked "..."), control characters and bytes that are not valid UTF-8 replaced by '?', so
// the message is always valid UTF-8 whatever the input was.
inline std::string quote_for_message(std::string_view s) {
  constexpr size_t kMaxBytes = 64;
  auto cont = [&](size_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return i < s.size() && static_cast<unsigned char>(s[i]) >= lo &&
           static_cast<unsigned char>(s[i]) <= hi;
  };
  std::string out = "'";
  size_t i = 0;
  while (i < s.size() && i < kMaxBytes) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = 0;  // length of a valid sequence starting at i, 0 if none
    if (c >= 0x20 && c < 0x7f) {
      len = 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = cont(i + 1) ? 2 : 0;
    } else if (c >= 0xE0 && c <= 0xEF) {
      const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
      len = cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0;
    } else if (c >= 0xF0 && c <= 0xF4) {
      const unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
      len = cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    }
    if (len == 0) {
      out += '?';
      ++i;
    } else {
      out.append(s.substr(i, len));
      i += len;
    }
  }
  if (i < s.size()) out += "...";
  out += '\'';
  return out;
}

// A field, tag or metric name as messages show it: as is when it is a plain identifier
// ([A-Za-z0-9_.:-], up to 64 bytes), else through quote_for_message.
inline std::string name_for_message(std::string_view key) {
  bool plain = !key.empty() && key.size() <= 64;
  for (char c : key)
    plain = plain && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-' || c == '.' || c == ':');
  return plain ? std::string(key) : quote_for_message(key);
}

}  // namespace fp
