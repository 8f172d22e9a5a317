#include "model/reading_batch.h"

namespace fp {

std::string validate_metric_name(std::string_view name) {
  if (name.empty()) return "metric name must not be empty";
  if (name.size() > 200) return "metric name is longer than 200 characters";
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f) return "metric name must not contain control characters";
  return {};
}

}  // namespace fp
