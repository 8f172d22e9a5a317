#pragma once
// Prometheus HTTP API JSON (api/v1): query results, series/label lists and errors, byte for
// byte in the shapes Prometheus 2.42 writes (timestamps as seconds with up to 3 decimals,
// sample values as strings: "1.5", "NaN", "+Inf").

#include <string>
#include <string_view>
#include <vector>

#include "promql/engine.h"

namespace fp::promql {

std::string format_value(double v);          // Go's strconv.FormatFloat(v, 'f', -1, 64)
std::string format_timestamp(int64_t t_ms);  // 1435781451.781

// The same two, written at `p` (which must have room for kMaxValueChars resp.
// kMaxTimestampChars); return the end of what they wrote.
inline constexpr size_t kMaxValueChars = 400;  // DBL_MAX and the smallest subnormal in 'f'
inline constexpr size_t kMaxTimestampChars = 32;
char* write_value(char* p, double v);
char* write_timestamp(char* p, int64_t t_ms);

// {"status":"success","data":{"resultType":...,"result":...}}, with "warnings":[...] after
// "data" when `warnings` is not empty (as Prometheus answers a query that may be incomplete).
std::string query_result_json(const QueryValue& q, const std::vector<std::string>& warnings = {});
// {"status":"success","data":[{labels}, ...]}
std::string series_json(const std::vector<Labels>& series);
// {"status":"success","data":["a","b"]}
std::string string_list_json(const std::vector<std::string>& values);
// {"status":"error","errorType":type,"error":message}
std::string error_json(std::string_view type, std::string_view message);

}  // namespace fp::promql
