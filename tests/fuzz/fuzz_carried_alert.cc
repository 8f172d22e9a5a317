// Fuzzes the carried-alert decoder (src/cluster/carried_alert.h): the value of an entry in the
// cluster's "fleetpulse_alerts" KV bucket. Any bytes give an alert or an error, never a crash;
// a decoded alert re-encodes to JSON that decodes to the same fields.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cluster/carried_alert.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto a = fp::cluster::DecodeCarriedAlert(bytes);
  if (!a.ok()) return 0;
  auto b = fp::cluster::DecodeCarriedAlert(fp::cluster::EncodeCarriedAlert(*a));
  if (!b.ok() || b->rule_id != a->rule_id || b->device_id != a->device_id ||
      b->version != a->version || b->state != a->state || b->message != a->message)
    std::abort();
  return 0;
}
