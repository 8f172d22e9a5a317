#include "cluster/gather_promql_raw.h"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "cluster/partition.h"
#include "model/time_format.h"
#include "promql/api_json.h"
#include "promql/api_params.h"
#include "promql/lexer.h"
#include "promql/parser.h"

namespace fp::cluster {
namespace {

namespace sj = simdjson::dom;

// A PromQL double-quoted string literal the lexer reads back to `v` byte for byte.
std::string Quote(std::string_view v) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string SelectorText(const std::vector<promql::LabelMatcher>& matchers) {
  std::string out = "{";
  for (size_t i = 0; i < matchers.size(); ++i) {
    const auto& m = matchers[i];
    if (i) out += ',';
    out += m.name;
    switch (m.op) {
      case promql::LabelMatcher::Op::kEqual:
        out += "=";
        break;
      case promql::LabelMatcher::Op::kNotEqual:
        out += "!=";
        break;
      case promql::LabelMatcher::Op::kRegex:
        out += "=~";
        break;
      case promql::LabelMatcher::Op::kNotRegex:
        out += "!~";
        break;
    }
    out += Quote(m.value);
  }
  return out + "}";
}

std::string Key(const std::vector<promql::LabelMatcher>& matchers, int64_t mint, int64_t maxt) {
  return SelectorText(matchers) + "|" + std::to_string(mint) + "|" + std::to_string(maxt);
}

// Records every selection and answers none.
class RecordingSource : public promql::SeriesSource {
 public:
  Status select(const std::vector<promql::LabelMatcher>& matchers, int64_t mint, int64_t maxt, bool,
                promql::QueryBudget&, promql::Matrix&) const override {
    SelectCall c{SelectorText(matchers), mint, maxt, Key(matchers, mint, maxt)};
    for (const SelectCall& seen : calls)
      if (seen.key == c.key) return Status::Ok();
    calls.push_back(std::move(c));
    return Status::Ok();
  }
  mutable std::vector<SelectCall> calls;
};

// Prometheus's timestamp text (seconds with up to 3 decimals) -> ms, exactly.
std::optional<int64_t> TimestampMs(std::string_view text) {
  bool negative = false;
  if (!text.empty() && text.front() == '-') {
    negative = true;
    text.remove_prefix(1);
  }
  const size_t dot = text.find('.');
  int64_t secs = 0;
  const std::string_view whole = text.substr(0, dot);
  auto r = std::from_chars(whole.data(), whole.data() + whole.size(), secs);
  if (r.ec != std::errc() || r.ptr != whole.data() + whole.size()) return std::nullopt;
  int64_t ms = 0;
  if (dot != std::string_view::npos) {
    std::string_view frac = text.substr(dot + 1);
    if (frac.empty() || frac.size() > 3) return std::nullopt;
    for (size_t i = 0; i < 3; ++i) {
      const char c = i < frac.size() ? frac[i] : '0';
      if (c < '0' || c > '9') return std::nullopt;
      ms = ms * 10 + (c - '0');
    }
  }
  const int64_t t = secs * 1000 + ms;
  return negative ? -t : t;
}

std::string TimeParam(int64_t ms) {
  return promql::format_timestamp(ms);
}

}  // namespace

std::optional<RawQuery> ParseRawQuery(const std::map<std::string, std::string, std::less<>>& params,
                                      bool range, int64_t now_ms) {
  auto get = [&params](std::string_view k) -> std::string {
    auto it = params.find(k);
    return it == params.end() ? std::string() : it->second;
  };
  RawQuery q;
  q.range = range;
  auto expr = promql::parse_expression(get("query"));
  if (!expr.ok()) return std::nullopt;
  q.expr = std::move(*expr);
  if (!range) {
    const std::string t = get("time");
    if (t.empty()) {
      q.start = q.end = now_ms;
    } else if (auto v = promql::parse_api_time(t)) {
      q.start = q.end = *v;
    } else {
      return std::nullopt;
    }
    return q;
  }
  auto start = promql::parse_api_time(get("start"));
  auto end = promql::parse_api_time(get("end"));
  auto step = promql::parse_api_step(get("step"));
  if (!start || !end || !step || *end < *start || *step <= 0 ||
      (*end - *start) / *step > promql::kMaxPointsPerSeries)
    return std::nullopt;
  const auto type = q.expr->type();
  if (type != promql::ValueType::kScalar && type != promql::ValueType::kVector) return std::nullopt;
  q.start = *start;
  q.end = *end;
  q.step = *step;
  return q;
}

std::vector<SelectCall> RecordSelects(const RawQuery& q, const promql::EngineOptions& opt) {
  RecordingSource rec;
  if (q.range)
    (void)promql::evaluate_range(*q.expr, rec, q.start, q.end, q.step, opt);
  else
    (void)promql::evaluate_instant(*q.expr, rec, q.start, opt);
  return std::move(rec.calls);
}

std::string SelectTarget(const SelectCall& call) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  const std::string query =
      call.selector + "[" + std::to_string(std::max<int64_t>(1, call.maxt - call.mint)) + "ms]";
  std::string enc;
  for (const char c : query) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      enc += c;
    } else {
      enc += '%';
      enc += kHex[u >> 4];
      enc += kHex[u & 0xF];
    }
  }
  return "/prometheus/api/v1/query?query=" + enc + "&time=" + TimeParam(call.maxt) + "&fp_local=1";
}

bool ReplaySource::Add(const SelectCall& call, std::string_view body,
                       const std::set<uint32_t>& partitions, uint32_t total,
                       std::vector<std::string>& warnings) {
  sj::parser parser;
  sj::object root, data;
  sj::array result;
  std::string_view type;
  if (parser.parse(body.data(), body.size()).get_object().get(root) != simdjson::SUCCESS ||
      root["data"].get_object().get(data) != simdjson::SUCCESS ||
      data["resultType"].get_string().get(type) != simdjson::SUCCESS ||
      data["result"].get_array().get(result) != simdjson::SUCCESS || type != "matrix")
    return false;
  sj::array warns;
  if (root["warnings"].get_array().get(warns) == simdjson::SUCCESS)
    for (sj::element w : warns) {
      std::string_view s;
      if (w.get_string().get(s) == simdjson::SUCCESS &&
          std::find(warnings.begin(), warnings.end(), s) == warnings.end())
        warnings.emplace_back(s);
    }
  Answer& answer = answers_[call.key];
  for (sj::element el : result) {
    sj::object s, metric;
    sj::array values;
    if (el.get_object().get(s) != simdjson::SUCCESS ||
        s["metric"].get_object().get(metric) != simdjson::SUCCESS ||
        s["values"].get_array().get(values) != simdjson::SUCCESS)
      return false;
    promql::Series series;
    bool other_owners = false;  // a device of a partition not asked of this owner
    for (auto field : metric) {
      std::string_view v;
      if (field.value.get_string().get(v) != simdjson::SUCCESS) return false;
      if (field.key == "device_id" && partitions.count(PartitionOf(v, total)) == 0)
        other_owners = true;
      series.labels.emplace_back(std::string(field.key), std::string(v));
    }
    if (other_owners) continue;
    if (!answer.seen.insert(series.labels).second) continue;  // the same series twice
    for (sj::element pe : values) {
      sj::array pair;
      if (pe.get_array().get(pair) != simdjson::SUCCESS) return false;
      std::optional<int64_t> t;
      std::string_view text;
      size_t i = 0;
      for (sj::element x : pair) {
        if (i == 0) t = TimestampMs(simdjson::minify(x));
        if (i == 1 && x.get_string().get(text) != simdjson::SUCCESS) return false;
        ++i;
      }
      if (!t || i != 2) return false;
      double v = 0;
      if (text == "NaN") {
        v = std::nan("");
      } else if (text == "+Inf" || text == "-Inf") {
        v = text[0] == '+' ? INFINITY : -INFINITY;
      } else {
        auto r = std::from_chars(text.data(), text.data() + text.size(), v);
        if (r.ec != std::errc() || r.ptr != text.data() + text.size()) return false;
      }
      series.points.push_back({*t, v});
    }
    answer.series.push_back(std::move(series));
  }
  return true;
}

Status ReplaySource::select(const std::vector<promql::LabelMatcher>& matchers, int64_t mint,
                            int64_t maxt, bool with_points, promql::QueryBudget& budget,
                            promql::Matrix& out) const {
  auto it = answers_.find(Key(matchers, mint, maxt));
  if (it == answers_.end())
    return Status::Internal("cluster PromQL: a selection was not gathered from the owners");
  for (const promql::Series& s : it->second.series) {
    if (auto st = budget.take_series(); !st.ok()) return st;
    if (auto st = budget.take_points(with_points ? s.points.size() : 0); !st.ok()) return st;
    out.push_back(with_points ? s : promql::Series{s.labels, {}});
  }
  return Status::Ok();
}

EvaluatedAnswer Evaluate(const RawQuery& q, const ReplaySource& src,
                         const promql::EngineOptions& opt, std::vector<std::string> warnings,
                         const std::vector<uint32_t>& missing) {
  auto r = q.range ? promql::evaluate_range(*q.expr, src, q.start, q.end, q.step, opt)
                   : promql::evaluate_instant(*q.expr, src, q.start, opt);
  EvaluatedAnswer out;
  if (!r.ok()) {
    switch (r.status().code()) {
      case StatusCode::kMalformed:
      case StatusCode::kInvalidArgument:
        out.status = 400;
        out.body = promql::error_json("bad_data", r.status().message());
        break;
      case StatusCode::kUnprocessable:
      case StatusCode::kTooLarge:
        out.status = 422;
        out.body = promql::error_json("execution", r.status().message());
        break;
      default:
        out.status = 500;
        out.body = promql::error_json("internal", r.status().message());
    }
    return out;
  }
  if (!missing.empty()) {
    std::string m = "partial answer: partitions";
    for (uint32_t p : missing) m += " " + std::to_string(p);
    warnings.push_back(m + " did not answer");
  }
  out.body = promql::query_result_json(*r, warnings);
  // The merged answers' coverage fields, before the closing brace.
  std::string partial = R"(,"partial":)";
  partial += missing.empty() ? "false" : "true";
  if (!missing.empty()) {
    partial += R"(,"missing_partitions":[)";
    for (size_t i = 0; i < missing.size(); ++i)
      partial += (i ? "," : "") + std::to_string(missing[i]);
    partial += "]";
  }
  if (!out.body.empty() && out.body.back() == '}') out.body.insert(out.body.size() - 1, partial);
  return out;
}

}  // namespace fp::cluster
