#include "monitor/owner_filter.h"

#include <mutex>

namespace fp {
namespace {

std::mutex& filter_mu() {
  static std::mutex mu;
  return mu;
}
std::function<bool(const std::string&)>& filter() {  // guarded by filter_mu()
  static std::function<bool(const std::string&)> fn;
  return fn;
}

}  // namespace

void set_status_owner_filter(std::function<bool(const std::string&)> owned) {
  std::lock_guard lock(filter_mu());
  filter() = std::move(owned);
}

bool status_owner_filter_takes(const std::string& device_id) {
  std::lock_guard lock(filter_mu());
  return !filter() || filter()(device_id);
}

}  // namespace fp
