// Fuzzes the device push relay's message decoders (src/cluster/device_push_codec.h): the bytes
// a node receives on fleetpulse.push.* and in answer to a command request. Any bytes are
// refused or decoded, never a crash; what decoded re-encodes to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cluster/device_push_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto p = fp::cluster::DecodeDevicePush(in); p.ok()) {
    if (fp::cluster::EncodeDevicePush(*p) != in) std::abort();
  }
  if (auto d = fp::cluster::DecodeCommandDelivery(in); d.ok()) {
    if (fp::cluster::EncodeCommandDelivery(*d) != in) std::abort();
  }
  return 0;
}
