#include "http/router.h"

#include <cctype>

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

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

bool takes_json_body(Method m, std::string_view pattern, ErrorStyle errors, BodyFormat body) {
  if (body != BodyFormat::kDefault) return body == BodyFormat::kJson;
  if (m != Method::kPost && m != Method::kPut && m != Method::kPatch) return false;
  if (errors != ErrorStyle::kApi) return false;  // InfluxDB's routes: line protocol, InfluxQL
  if (pattern.starts_with("/prometheus/")) return false;  // form-encoded PromQL
  const size_t slash = pattern.rfind('/');
  return pattern.substr(slash == std::string_view::npos ? 0 : slash + 1) != "write";
}

// `h` behind the 415 check for bodies declared as something other than JSON.
Handler require_json_body(Handler h) {
  return [h = std::move(h)](RequestContext& rc, Responder respond) {
    const Request& req = rc.request;
    if (!req.body.empty() && !json_compatible_content_type(req.content_type))
      return respond(error_response(415, "unsupported_media_type",
                                    "Content-Type '" + req.content_type +
                                        "' is not accepted here: the body must be JSON "
                                        "(Content-Type: application/json)"));
    h(rc, std::move(respond));
  };
}

}  // namespace

bool json_compatible_content_type(std::string_view content_type) {
  std::string_view type = trim(content_type.substr(0, content_type.find(';')));
  if (type.empty()) return true;
  for (std::string_view ok :
       {"application/json", "text/json", "text/plain", "application/x-www-form-urlencoded"})
    if (iequals(type, ok)) return true;
  constexpr std::string_view kApplication = "application/", kJsonSuffix = "+json";
  return type.size() > kApplication.size() + kJsonSuffix.size() &&
         iequals(type.substr(0, kApplication.size()), kApplication) &&
         iequals(type.substr(type.size() - kJsonSuffix.size()), kJsonSuffix);
}

const std::string& PathParams::get(std::string_view name) const {
  static const std::string kEmpty;
  for (const auto& [k, v] : values)
    if (k == name) return v;
  return kEmpty;
}

void Router::add(Method m, std::string pattern, Access access, Handler h, ErrorStyle errors,
                 BodyFormat body) {
  if (takes_json_body(m, pattern, errors, body)) h = require_json_body(std::move(h));
  Route r{m, std::move(pattern), access, std::move(h), {}, errors};
  for (auto s : split_path(r.pattern)) r.segments.emplace_back(s);
  routes_.push_back(std::move(r));
}

void Router::replace(Method m, std::string pattern, Access access, Handler h, ErrorStyle errors,
                     BodyFormat body) {
  for (Route& r : routes_)
    if (r.method == m && r.pattern == pattern) {
      r.access = access;
      r.handler = takes_json_body(m, pattern, errors, body) ? require_json_body(std::move(h))
                                                            : std::move(h);
      r.errors = errors;
      return;
    }
  add(m, std::move(pattern), access, std::move(h), errors, body);
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
