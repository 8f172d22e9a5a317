#pragma once
// Label sets as PromQL sees them: name/value pairs sorted by name, without empty values.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fp::promql {

inline constexpr std::string_view kMetricName = "__name__";

using Labels = std::vector<std::pair<std::string, std::string>>;

// The value of `name`, or "" when absent (Prometheus treats both alike).
std::string_view label_value(const Labels& ls, std::string_view name);
// Sets (or with an empty value removes) a label, keeping the order.
void set_label(Labels& ls, std::string_view name, std::string_view value);
Labels without_name(const Labels& ls);
// Only the labels named in `names` (on / by), or all but those and __name__ (ignoring / without).
Labels keep_labels(const Labels& ls, const std::vector<std::string>& names);
Labels drop_labels(const Labels& ls, const std::vector<std::string>& names, bool drop_name);
// A byte string identifying the label set (equal sets give equal keys).
std::string labels_key(const Labels& ls);
// {a="b", c="d"} as Prometheus prints it in error messages.
std::string labels_string(const Labels& ls);

}  // namespace fp::promql
