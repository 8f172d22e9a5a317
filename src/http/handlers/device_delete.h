#pragma once
// DELETE /api/v1/devices/{id} in an order a crash (kill -9) cannot break. The device's row is in
// the catalog; its readings (and the record that keeps a restart from registering it again from
// older telemetry) in the store's WAL. Two stores cannot change in one transaction, so:
//   1. begin_device_delete: the device must exist; the intent (device, purge, time) is written
//      durably to <data-dir>/device-deletions (replaced whole: tmp, fsync, rename, fsync dir);
//   2. the caller logs the removal in the store (WritePath::submit_removal: durable);
//   3. end_device_delete: deletes the catalog row, then clears the intent.
// The old order (catalog row first, then the removal) let a crash between them leave telemetry
// in the WAL with no removal after it, which the next start registered again as a device: the
// deleted device came back with its readings. Now a crash after 1 or 2 leaves the intent, and
// finish_device_deletes (at start, after the store is open and before the devices are loaded)
// completes it: it logs the removal again (idempotent) and deletes the row — unless the row was
// created after the intent (the device was deleted in step 3 and created again before the
// intent was cleared), which is left alone. A crash before 1 changes nothing. So a device is
// never left half deleted: after the next start it is wholly deleted or was never touched.

#include <cstdint>
#include <string>
#include <unordered_map>

#include "util/result.h"

namespace fp {
class Catalog;
namespace tsdb {
class TimeSeriesStore;
}
}  // namespace fp

namespace fp::http {

struct ApiContext;

// Step 1: kNotFound when there is no such device; otherwise the intent is durable.
Status begin_device_delete(ApiContext& ctx, const std::string& id, bool purge);
// Step 3, once the store's removal is durable: deletes the catalog row (kNotFound when another
// request deleted it meanwhile) and clears the intent.
Status end_device_delete(ApiContext& ctx, const std::string& id);

// At start, before anything else writes the store or loads the devices: completes every
// deletion a crash interrupted (store removals are logged and committed here directly: call it
// before the Ingestor starts; an error is logged). Devices it removes are erased from `replay_seen`
// (last-seen times gathered by the WAL replay), so they are not registered again from it.
Status finish_device_deletes(const std::string& data_dir, Catalog& catalog,
                             tsdb::TimeSeriesStore& store,
                             std::unordered_map<std::string, int64_t>& replay_seen);

}  // namespace fp::http
