#include "promql/function_table.h"

#include <map>

namespace fp::promql {
namespace {

constexpr auto S = ValueType::kScalar;
constexpr auto V = ValueType::kVector;
constexpr auto M = ValueType::kMatrix;
constexpr auto Str = ValueType::kString;

const std::vector<FunctionInfo>& table() {
  static const std::vector<FunctionInfo> t = {
      // Supported.
      {"abs", {V}, 0, V, true},
      {"ceil", {V}, 0, V, true},
      {"floor", {V}, 0, V, true},
      {"exp", {V}, 0, V, true},
      {"sqrt", {V}, 0, V, true},
      {"ln", {V}, 0, V, true},
      {"log2", {V}, 0, V, true},
      {"log10", {V}, 0, V, true},
      {"sgn", {V}, 0, V, true},
      {"round", {V, S}, 1, V, true},
      {"clamp", {V, S, S}, 0, V, true},
      {"clamp_min", {V, S}, 0, V, true},
      {"clamp_max", {V, S}, 0, V, true},
      {"time", {}, 0, S, true},
      {"vector", {S}, 0, V, true},
      {"scalar", {V}, 0, S, true},
      {"rate", {M}, 0, V, true},
      {"irate", {M}, 0, V, true},
      {"increase", {M}, 0, V, true},
      {"delta", {M}, 0, V, true},
      {"idelta", {M}, 0, V, true},
      {"deriv", {M}, 0, V, true},
      {"changes", {M}, 0, V, true},
      {"resets", {M}, 0, V, true},
      {"avg_over_time", {M}, 0, V, true},
      {"min_over_time", {M}, 0, V, true},
      {"max_over_time", {M}, 0, V, true},
      {"sum_over_time", {M}, 0, V, true},
      {"count_over_time", {M}, 0, V, true},
      {"last_over_time", {M}, 0, V, true},
      {"present_over_time", {M}, 0, V, true},
      {"stddev_over_time", {M}, 0, V, true},
      {"stdvar_over_time", {M}, 0, V, true},
      {"quantile_over_time", {S, M}, 0, V, true},
      // Known to Prometheus, not evaluated here.
      {"absent", {V}, 0, V},
      {"absent_over_time", {M}, 0, V},
      {"acos", {V}, 0, V},
      {"acosh", {V}, 0, V},
      {"asin", {V}, 0, V},
      {"asinh", {V}, 0, V},
      {"atan", {V}, 0, V},
      {"atanh", {V}, 0, V},
      {"cos", {V}, 0, V},
      {"cosh", {V}, 0, V},
      {"days_in_month", {V}, 1, V},
      {"day_of_month", {V}, 1, V},
      {"day_of_week", {V}, 1, V},
      {"day_of_year", {V}, 1, V},
      {"deg", {V}, 0, V},
      {"histogram_count", {V}, 0, V},
      {"histogram_sum", {V}, 0, V},
      {"histogram_fraction", {S, S, V}, 0, V},
      {"histogram_quantile", {S, V}, 0, V},
      {"holt_winters", {M, S, S}, 0, V},
      {"hour", {V}, 1, V},
      {"label_join", {V, Str, Str, Str}, -1, V},
      {"label_replace", {V, Str, Str, Str, Str}, 0, V},
      {"minute", {V}, 1, V},
      {"month", {V}, 1, V},
      {"pi", {}, 0, S},
      {"predict_linear", {M, S}, 0, V},
      {"rad", {V}, 0, V},
      {"sin", {V}, 0, V},
      {"sinh", {V}, 0, V},
      {"sort", {V}, 0, V},
      {"sort_desc", {V}, 0, V},
      {"tan", {V}, 0, V},
      {"tanh", {V}, 0, V},
      {"timestamp", {V}, 0, V},
      {"year", {V}, 1, V},
  };
  return t;
}

}  // namespace

const FunctionInfo* find_function(std::string_view name) {
  static const std::map<std::string_view, const FunctionInfo*> by_name = [] {
    std::map<std::string_view, const FunctionInfo*> m;
    for (const auto& f : table()) m[f.name] = &f;
    return m;
  }();
  auto it = by_name.find(name);
  return it == by_name.end() ? nullptr : it->second;
}

}  // namespace fp::promql
