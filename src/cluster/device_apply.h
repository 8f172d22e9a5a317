#pragma once
// ApplyDeviceChange: a device registration or update (DeviceChange, storage/catalog/catalog.h)
// applied to this node's catalog and status tracker — what the device handlers did inline
// before the change went through the WritePath seam. Two ways:
// - strict (single node, LocalWritePath): create = Catalog::create_device (kAlreadyExists when
//   the id is taken), replace/patch = Catalog::update_device (kNotFound when absent);
// - idempotent (cluster, the partition owner applying its stream): Catalog::apply_device_change,
//   so the same message twice gives the same row.
// Then the tracker: a new device is added, a changed type changes its thresholds (the status
// transition that may cause is recorded through the Ingestor).
//
// Thread safety: any thread (the catalog, tracker and Ingestor are thread-safe).

#include "ingest/ingestor.h"
#include "monitor/device_status_tracker.h"
#include "storage/catalog/catalog.h"
#include "util/result.h"

namespace fp::cluster {

enum class DeviceApplyMode { kStrict, kIdempotent };

Result<Device> ApplyDeviceChange(Catalog& catalog, DeviceStatusTracker& tracker, Ingestor& ingestor,
                                 const DeviceChange& change, DeviceApplyMode mode);

}  // namespace fp::cluster
