#include "promql/labels.h"

#include <algorithm>

namespace fp::promql {

std::string_view label_value(const Labels& ls, std::string_view name) {
  for (const auto& [n, v] : ls)
    if (n == name) return v;
  return {};
}

void set_label(Labels& ls, std::string_view name, std::string_view value) {
  auto it = std::lower_bound(ls.begin(), ls.end(), name,
                             [](const auto& p, std::string_view n) { return p.first < n; });
  const bool found = it != ls.end() && it->first == name;
  if (value.empty()) {
    if (found) ls.erase(it);
  } else if (found) {
    it->second = std::string(value);
  } else {
    ls.insert(it, {std::string(name), std::string(value)});
  }
}

Labels without_name(const Labels& ls) {
  Labels out;
  out.reserve(ls.size());
  for (const auto& p : ls)
    if (p.first != kMetricName) out.push_back(p);
  return out;
}

Labels keep_labels(const Labels& ls, const std::vector<std::string>& names) {
  Labels out;
  for (const auto& p : ls)
    if (std::find(names.begin(), names.end(), p.first) != names.end()) out.push_back(p);
  return out;
}

Labels drop_labels(const Labels& ls, const std::vector<std::string>& names, bool drop_name) {
  Labels out;
  for (const auto& p : ls) {
    if (drop_name && p.first == kMetricName) continue;
    if (std::find(names.begin(), names.end(), p.first) != names.end()) continue;
    out.push_back(p);
  }
  return out;
}

std::string labels_key(const Labels& ls) {
  std::string k;
  for (const auto& [n, v] : ls) {
    k += n;
    k += '\xff';
    k += v;
    k += '\xfe';
  }
  return k;
}

std::string labels_string(const Labels& ls) {
  std::string s = "{";
  for (size_t i = 0; i < ls.size(); ++i) {
    if (i) s += ", ";
    s += ls[i].first + "=\"" + ls[i].second + "\"";
  }
  return s + "}";
}

}  // namespace fp::promql
