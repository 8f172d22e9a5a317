// Fuzzes the cluster stream formats (src/cluster): a share as stored in a partition stream and
// the applied checkpoint file. Any bytes give a value or an error, never a crash; a decoded
// share re-encodes to bytes that decode to the same share.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cluster/applied_checkpoint.h"
#include "cluster/share_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto share = fp::cluster::DecodeShare(bytes);
  if (share.ok()) {
    std::string again;
    switch (share->kind) {
      case fp::cluster::ShareKind::kTelemetry:
        again = fp::cluster::EncodeTelemetry(*share->batch, share->received_ms);
        break;
      case fp::cluster::ShareKind::kHeartbeat:
        again = fp::cluster::EncodeHeartbeat(share->heartbeat);
        break;
      case fp::cluster::ShareKind::kRemoval:
        again = fp::cluster::EncodeRemoval(share->removed, share->with_data);
        break;
      case fp::cluster::ShareKind::kDevice:
        // A device change re-encodes to exactly the bytes it was decoded from.
        again = fp::cluster::EncodeDeviceChange(share->device);
        if (again != bytes) std::abort();
        break;
    }
    auto second = fp::cluster::DecodeShare(again);
    if (!second.ok()) std::abort();
    if (share->kind == fp::cluster::ShareKind::kTelemetry &&
        second->batch->points().size() != share->batch->points().size())
      std::abort();
  }
  auto checkpoint = fp::cluster::ParseCheckpoint(bytes);
  if (checkpoint.ok()) {
    auto again = fp::cluster::ParseCheckpoint(fp::cluster::FormatCheckpoint(*checkpoint));
    if (!again.ok() || again->applied != checkpoint->applied) std::abort();
  }
  return 0;
}
