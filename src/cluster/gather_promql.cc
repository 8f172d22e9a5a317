#include "cluster/gather_promql.h"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include "promql/aggregation.h"
#include "promql/parser.h"
#include "util/json_writer.h"

namespace fp::cluster {
namespace {

namespace sj = simdjson::dom;

// Index just past the bracket matching the one at `open`, skipping string literals; npos when
// unbalanced.
size_t SkipBalanced(std::string_view q, size_t open) {
  int depth = 0;
  for (size_t i = open; i < q.size(); ++i) {
    const char c = q[i];
    if (c == '"' || c == '\'' || c == '`') {
      for (++i; i < q.size() && q[i] != c; ++i)
        if (q[i] == '\\' && c != '`') ++i;
      continue;
    }
    if (c == '(' || c == '{' || c == '[') ++depth;
    if (c == ')' || c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

size_t SkipSpace(std::string_view q, size_t i) {
  while (i < q.size() && std::isspace(static_cast<unsigned char>(q[i]))) ++i;
  return i;
}

// The source text of the aggregation's argument: `op [by|without (..)] ( [param ,] inner )`.
std::optional<std::string> InnerText(std::string_view q, bool has_param) {
  size_t i = SkipSpace(q, 0);
  while (i < q.size() && (std::isalnum(static_cast<unsigned char>(q[i])) || q[i] == '_')) ++i;
  i = SkipSpace(q, i);
  if (i < q.size() && q[i] != '(') {  // by (...) / without (...) before the arguments
    while (i < q.size() && std::isalpha(static_cast<unsigned char>(q[i]))) ++i;
    i = SkipSpace(q, i);
    if (i >= q.size() || q[i] != '(') return std::nullopt;
    i = SkipBalanced(q, i);
    if (i == std::string_view::npos) return std::nullopt;
    i = SkipSpace(q, i);
  }
  if (i >= q.size() || q[i] != '(') return std::nullopt;
  const size_t end = SkipBalanced(q, i);
  if (end == std::string_view::npos) return std::nullopt;
  std::string_view args = q.substr(i + 1, end - i - 2);
  if (has_param) {  // the first top-level comma ends the parameter
    size_t j = 0;
    for (; j < args.size() && args[j] != ','; ++j) {
      if (args[j] == '(' || args[j] == '{' || args[j] == '[' || args[j] == '"' || args[j] == '\'' ||
          args[j] == '`') {
        const size_t k = args[j] == '(' || args[j] == '{' || args[j] == '['
                             ? SkipBalanced(args, j)
                             : std::string_view::npos;
        if (k == std::string_view::npos) return std::nullopt;
        j = k - 1;
      }
    }
    if (j >= args.size()) return std::nullopt;
    args.remove_prefix(j + 1);
  }
  return std::string(args);
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  JsonWriter w;
  w.value(v);
  return w.str();
}

struct Series {
  std::vector<std::pair<std::string, std::string>> labels;  // sorted by name
  std::map<double, std::pair<std::string, double>> points;  // t -> (raw t, value)
};

std::string LabelsJson(const std::vector<std::pair<std::string, std::string>>& labels) {
  JsonWriter w;
  w.begin_object();
  for (const auto& [k, v] : labels) w.field(k, v);
  w.end_object();
  return w.take();
}

const promql::Expr& Unwrap(const promql::Expr& e) {
  return e.kind == promql::Expr::Kind::kParen ? Unwrap(*e.args[0]) : e;
}

bool Listed(const std::vector<std::string>& names, std::string_view n) {
  return std::find(names.begin(), names.end(), n) != names.end();
}

// No selector inside: the same value on every node (a number, time(), ...).
bool IsConstant(const promql::Expr& e) {
  if (e.kind == promql::Expr::Kind::kVectorSelector ||
      e.kind == promql::Expr::Kind::kMatrixSelector)
    return false;
  for (const auto& a : e.args)
    if (!IsConstant(*a)) return false;
  return !e.param || IsConstant(*e.param);
}

// Functions whose output series each depend on one input series (or, for their vector
// argument, on series of one device); the rest (absent, vector, scalar, sort, label_replace,
// histogram_quantile, ...) are not treated as per device.
bool PerSeriesFunction(std::string_view f) {
  static constexpr std::string_view kNames[] = {"abs",
                                                "ceil",
                                                "floor",
                                                "exp",
                                                "sqrt",
                                                "ln",
                                                "log2",
                                                "log10",
                                                "sgn",
                                                "round",
                                                "clamp",
                                                "clamp_min",
                                                "clamp_max",
                                                "rate",
                                                "irate",
                                                "increase",
                                                "delta",
                                                "idelta",
                                                "deriv",
                                                "changes",
                                                "resets",
                                                "avg_over_time",
                                                "min_over_time",
                                                "max_over_time",
                                                "sum_over_time",
                                                "count_over_time",
                                                "last_over_time",
                                                "present_over_time",
                                                "stddev_over_time",
                                                "stdvar_over_time",
                                                "quantile_over_time",
                                                "acos",
                                                "acosh",
                                                "asin",
                                                "asinh",
                                                "atan",
                                                "atanh",
                                                "cos",
                                                "cosh",
                                                "days_in_month",
                                                "day_of_month",
                                                "day_of_week",
                                                "day_of_year",
                                                "deg",
                                                "holt_winters",
                                                "hour",
                                                "minute",
                                                "month",
                                                "predict_linear",
                                                "rad",
                                                "sin",
                                                "sinh",
                                                "tan",
                                                "tanh",
                                                "timestamp",
                                                "year"};
  return std::find(std::begin(kNames), std::end(kNames), f) != std::end(kNames);
}

// True when every series of `e` depends on the series of one device only, each carrying
// device_id: then every owner computes its devices' series exactly as the single node does.
bool PerDevice(const promql::Expr& e) {
  using K = promql::Expr::Kind;
  switch (e.kind) {
    case K::kParen:
    case K::kUnaryMinus:
      return PerDevice(*e.args[0]);
    case K::kVectorSelector:
    case K::kMatrixSelector:
      // A named metric that is not a roll-up over devices (fleetpulse_type_<kpi>).
      for (const auto& m : e.matchers)
        if (m.name == "__name__" && m.op == promql::LabelMatcher::Op::kEqual)
          return !m.value.starts_with("fleetpulse_type_");
      return false;
    case K::kCall: {
      if (!PerSeriesFunction(e.text)) return false;
      bool any = false;
      for (const auto& a : e.args) {
        const auto t = a->type();
        if (t == promql::ValueType::kVector || t == promql::ValueType::kMatrix) {
          if (!PerDevice(*a)) return false;
          any = true;
        } else if (!IsConstant(*a)) {
          return false;
        }
      }
      return any;
    }
    case K::kBinary: {
      const promql::Expr& l = *e.args[0];
      const promql::Expr& r = *e.args[1];
      if (!e.has_matching)  // one side a scalar
        return (PerDevice(l) && IsConstant(r)) || (IsConstant(l) && PerDevice(r));
      const bool keeps_device = e.matching.on ? Listed(e.matching.labels, "device_id")
                                              : !Listed(e.matching.labels, "device_id");
      return keeps_device && PerDevice(l) && PerDevice(r);
    }
    case K::kAggregate: {
      const bool by_device =
          e.without ? !Listed(e.grouping, "device_id") : Listed(e.grouping, "device_id");
      return by_device && PerDevice(*e.args[0]) && (!e.param || IsConstant(*e.param));
    }
    case K::kNumber:
    case K::kString:
      return false;
  }
  return false;
}

}  // namespace

PromPlan PlanOf(std::string_view query) {
  auto parsed = promql::parse_expression(query);
  if (!parsed.ok()) return PromPlan::kMerge;
  const promql::Expr& top = Unwrap(**parsed);
  if (PerDevice(top)) return PromPlan::kMerge;
  if (top.kind == promql::Expr::Kind::kAggregate && PerDevice(*top.args[0])) {
    using promql::AggOp;
    if (top.agg == AggOp::kSum || top.agg == AggOp::kCount || top.agg == AggOp::kMin ||
        top.agg == AggOp::kMax)
      return PromPlan::kMerge;
    if (GatheredAggregationOf(query)) return PromPlan::kAggregateOnce;
  }
  return PromPlan::kRawSeries;
}

std::optional<OuterAggregation> GatheredAggregationOf(std::string_view query) {
  auto parsed = promql::parse_expression(query);
  if (!parsed.ok()) return std::nullopt;
  const promql::Expr& e = **parsed;
  if (e.kind != promql::Expr::Kind::kAggregate) return std::nullopt;
  using promql::AggOp;
  const bool has_param =
      e.agg == AggOp::kTopk || e.agg == AggOp::kBottomk || e.agg == AggOp::kQuantile;
  switch (e.agg) {
    case AggOp::kAvg:
    case AggOp::kStddev:
    case AggOp::kStdvar:
    case AggOp::kGroup:
    case AggOp::kTopk:
    case AggOp::kBottomk:
    case AggOp::kQuantile:
      break;
    default:
      return std::nullopt;  // sum/count/min/max: combined exactly by gather_merge.h
  }
  OuterAggregation out;
  out.op = e.agg;
  out.grouping = e.grouping;
  out.without = e.without;
  if (has_param) {
    const promql::Expr* p = e.param.get();
    while (p && p->kind == promql::Expr::Kind::kParen) p = p->args[0].get();
    if (!p || p->kind != promql::Expr::Kind::kNumber) return std::nullopt;
    out.param = p->number;
  }
  auto inner = InnerText(query, has_param);
  if (!inner || !promql::parse_expression(*inner).ok()) return std::nullopt;
  out.inner = std::move(*inner);
  return out;
}

std::string ApplyAggregation(const OuterAggregation& agg, std::string_view merged_body) {
  sj::parser parser;
  sj::object root, data;
  sj::array result;
  std::string_view type;
  if (parser.parse(merged_body.data(), merged_body.size()).get_object().get(root) !=
          simdjson::SUCCESS ||
      root["data"].get_object().get(data) != simdjson::SUCCESS ||
      data["resultType"].get_string().get(type) != simdjson::SUCCESS ||
      data["result"].get_array().get(result) != simdjson::SUCCESS ||
      (type != "vector" && type != "matrix"))
    return std::string(merged_body);
  const bool matrix = type == "matrix";
  std::vector<Series> input;
  for (sj::element el : result) {
    sj::object s, metric;
    if (el.get_object().get(s) != simdjson::SUCCESS ||
        s["metric"].get_object().get(metric) != simdjson::SUCCESS)
      continue;
    Series series;
    for (auto field : metric) {
      std::string_view v;
      if (field.value.get_string().get(v) == simdjson::SUCCESS)
        series.labels.emplace_back(std::string(field.key), std::string(v));
    }
    std::sort(series.labels.begin(), series.labels.end());
    auto add = [&series](sj::array pair) {
      std::string raw;
      double t = 0;
      std::string_view text = "NaN";
      size_t i = 0;
      for (sj::element x : pair) {
        if (i == 0) {
          raw = simdjson::minify(x);
          if (x.get_double().get(t) != simdjson::SUCCESS) {
            int64_t n = 0;
            if (x.get_int64().get(n) == simdjson::SUCCESS) t = static_cast<double>(n);
          }
        }
        if (i == 1 && x.get_string().get(text) != simdjson::SUCCESS) text = "NaN";
        ++i;
      }
      series.points[t] = {raw, std::strtod(std::string(text).c_str(), nullptr)};
    };
    sj::array pair;
    if (!matrix && s["value"].get_array().get(pair) == simdjson::SUCCESS) add(pair);
    sj::array values;
    if (matrix && s["values"].get_array().get(values) == simdjson::SUCCESS)
      for (sj::element pe : values)
        if (pe.get_array().get(pair) == simdjson::SUCCESS) add(pair);
    input.push_back(std::move(series));
  }
  // The engine folds series in label order.
  std::sort(input.begin(), input.end(),
            [](const Series& a, const Series& b) { return a.labels < b.labels; });
  std::map<double, std::string> steps;
  for (const Series& s : input)
    for (const auto& [t, p] : s.points) steps.emplace(t, p.first);
  const bool selects = agg.op == promql::AggOp::kTopk || agg.op == promql::AggOp::kBottomk;
  // Group labels of each input series (the series itself, for topk/bottomk output).
  std::vector<std::string> group_of(input.size());
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> group_labels;
  for (size_t i = 0; i < input.size(); ++i) {
    std::vector<std::pair<std::string, std::string>> g;
    for (const auto& [k, v] : input[i].labels) {
      if (k == "__name__" && agg.without) continue;
      const bool listed =
          std::find(agg.grouping.begin(), agg.grouping.end(), k) != agg.grouping.end();
      if (listed != agg.without) g.emplace_back(k, v);
    }
    group_of[i] = LabelsJson(g);
    group_labels[group_of[i]] = std::move(g);
  }
  // Output series (label JSON) -> t -> value.
  std::map<std::string, std::map<double, double>> out;
  for (const auto& [t, raw] : steps) {
    std::map<std::string, std::vector<promql::AggSample>> groups;
    for (size_t i = 0; i < input.size(); ++i) {
      auto it = input[i].points.find(t);
      if (it == input[i].points.end()) continue;
      groups[group_of[i]].push_back({static_cast<uint32_t>(i), it->second.second});
    }
    for (const auto& [g, samples] : groups) {
      std::vector<promql::AggSample> selected;
      const double v = promql::aggregate_group(agg.op, agg.param, samples, selected);
      if (!selects) {
        out[g][t] = v;
        continue;
      }
      for (const promql::AggSample& s : selected) out[LabelsJson(input[s.series].labels)][t] = s.v;
    }
  }
  JsonWriter w;
  w.begin_object().field("status", "success").key("data").begin_object();
  w.field("resultType", matrix ? "matrix" : "vector").key("result").begin_array();
  for (const auto& [labels, points] : out) {
    w.begin_object().key("metric").raw(labels).key(matrix ? "values" : "value");
    if (matrix) w.begin_array();
    for (const auto& [t, v] : points)
      w.begin_array().raw(steps[t]).value(FormatValue(v)).end_array();
    if (matrix) w.end_array();
    w.end_object();
  }
  w.end_array().end_object();
  for (auto field : root) {
    if (field.key == "status" || field.key == "data") continue;
    w.key(field.key).raw(simdjson::minify(field.value));
  }
  w.end_object();
  return w.take();
}

}  // namespace fp::cluster
