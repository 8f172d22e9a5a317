#include "http/router.h"

namespace fp::http {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.push_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace

const std::string& PathParams::get(std::string_view name) const {
  static const std::string kEmpty;
  for (const auto& [k, v] : values)
    if (k == name) return v;
  return kEmpty;
}

void Router::add(Method m, std::string pattern, Access access, Handler h, ErrorStyle errors) {
  Route r{m, std::move(pattern), access, std::move(h), {}, errors};
  for (auto s : split_path(r.pattern)) r.segments.emplace_back(s);
  routes_.push_back(std::move(r));
}

void Router::replace(Method m, std::string pattern, Access access, Handler h, ErrorStyle errors) {
  for (Route& r : routes_)
    if (r.method == m && r.pattern == pattern) {
      r.access = access;
      r.handler = std::move(h);
      r.errors = errors;
      return;
    }
  add(m, std::move(pattern), access, std::move(h), errors);
}

bool Router::wrap(Method m, std::string_view pattern, const std::function<Handler(Handler)>& wrap) {
  for (Route& r : routes_)
    if (r.method == m && r.pattern == pattern) {
      r.handler = wrap(std::move(r.handler));
      return true;
    }
  return false;
}

Router::Match Router::match(Method m, std::string_view path) const {
  Match result;
  auto parts = split_path(path);
  for (const Route& r : routes_) {
    if (r.segments.size() != parts.size()) continue;
    PathParams params;
    bool ok = true;
    for (size_t i = 0; i < parts.size() && ok; ++i) {
      const std::string& seg = r.segments[i];
      if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') {
        if (parts[i].empty())
          ok = false;
        else
          params.values.emplace_back(seg.substr(1, seg.size() - 2), std::string(parts[i]));
      } else if (seg != parts[i]) {
        ok = false;
      }
    }
    if (!ok) continue;
    if (r.method == m || (m == Method::kHead && r.method == Method::kGet)) {
      result.route = &r;
      result.params = std::move(params);
      return result;
    }
    result.status = 405;
    if (!result.allowed.empty()) result.allowed += ", ";
    result.allowed += to_string(r.method);
  }
  return result;
}

}  // namespace fp::http
