#pragma once
// Every function Prometheus 2.42 knows, with its signature, and whether fleetpulse evaluates
// it. An unknown name is a parse error (as in Prometheus); a known but unsupported one is
// refused with 422 naming it, never evaluated wrongly.

#include <string_view>
#include <vector>

#include "promql/ast.h"

namespace fp::promql {

struct FunctionInfo {
  std::string_view name;
  std::vector<ValueType> args;
  int optional_args = 0;  // how many trailing args may be left out (-1: the last repeats)
  ValueType returns = ValueType::kVector;
  bool supported = false;
};

const FunctionInfo* find_function(std::string_view name);

}  // namespace fp::promql
