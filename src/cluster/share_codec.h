#pragma once
// Shares: the part of one write request that belongs to one partition, as it is stored in the
// partition's JetStream stream and applied by the partition's owner. A compact binary format
// ("FPS1", little-endian; specified in docs/cluster.md) decoded with bounds checks: a stream
// message is input from the network and a damaged one is refused, never trusted.
//
// Readings the device sent without a timestamp are stamped by the publishing node (receive
// time, +1 ms per further unstamped reading of the same series in the request), so applying a
// share twice writes the same points (same series + timestamp overwrites) and changes nothing.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ingest/heartbeat.h"
#include "model/reading_batch.h"
#include "storage/catalog/catalog.h"
#include "util/result.h"

namespace fp::cluster {

enum class ShareKind : uint8_t {
  kTelemetry = 'T',
  kHeartbeat = 'H',
  kRemoval = 'R',
  kDevice = 'D'
};

struct Share {
  ShareKind kind = ShareKind::kTelemetry;
  std::shared_ptr<ReadingBatch> batch;  // kTelemetry: stamped, no unstamped points
  int64_t received_ms = 0;              // kTelemetry
  HeartbeatReport heartbeat;            // kHeartbeat
  std::optional<std::string> removed;   // kRemoval: the device, or nullopt for all devices
  bool with_data = false;               // kRemoval
  DeviceChange device;                  // kDevice
};

// Splits `batch` into one batch per partition (device ids by PartitionOf), giving unstamped
// points their publisher stamp (see above). Attributes follow their device.
std::map<uint32_t, std::shared_ptr<ReadingBatch>> SplitByPartition(const ReadingBatch& batch,
                                                                   uint32_t partitions);

std::string EncodeTelemetry(const ReadingBatch& batch, int64_t received_ms);
std::string EncodeHeartbeat(const HeartbeatReport& report);
std::string EncodeRemoval(const std::optional<std::string>& device, bool with_data);
// A device registration or update. Decoding refuses a kind it does not know, an invalid
// device id (validate_device_id), and metadata / config that are not JSON objects (so applying it
// cannot fail on them).
std::string EncodeDeviceChange(const DeviceChange& change);

// kMalformed for anything that is not exactly one well-formed share.
Result<Share> DecodeShare(std::string_view bytes);

}  // namespace fp::cluster
