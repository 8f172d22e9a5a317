#pragma once
// KV keys allow only [-/_=.a-zA-Z0-9]; ids (rules, keys, devices) may hold anything, so they
// go into keys hex-encoded.

#include <string>
#include <string_view>

namespace fp::cluster {

inline std::string KvHex(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() * 2);
  for (unsigned char c : s) {
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}

}  // namespace fp::cluster
