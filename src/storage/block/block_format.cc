#include "storage/block/block_format.h"

namespace fp::block {

std::string_view to_string(Resolution r) {
  switch (r) {
    case Resolution::kRaw:
      return "raw";
    case Resolution::kMinute:
      return "1m";
    case Resolution::kHour:
      return "1h";
  }
  return "unknown";
}

}  // namespace fp::block
