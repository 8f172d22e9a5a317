#include "cluster/device_apply.h"

namespace fp::cluster {

Result<Device> ApplyDeviceChange(Catalog& catalog, DeviceStatusTracker& tracker, Ingestor& ingestor,
                                 const DeviceChange& change, DeviceApplyMode mode) {
  const bool create = change.kind == DeviceChange::Kind::kCreate;
  Result<Device> row = Status::Internal("not applied");
  if (mode == DeviceApplyMode::kIdempotent) {
    row = catalog.apply_device_change(change);
  } else if (create) {
    Device d;
    d.device_id = change.device_id;
    d.name = change.fields.name.value_or("");
    d.type = change.fields.type.value_or("");
    d.location = change.fields.location.value_or("");
    d.metadata_json = change.fields.metadata_json.value_or("{}");
    d.config_json = change.fields.config_json.value_or("{}");
    d.created_at_ms = d.updated_at_ms = change.at_ms;
    if (Status s = catalog.create_device(d); !s.ok()) return s;
    row = catalog.get_device(d.device_id);
    if (!row.ok()) row = d;
  } else {
    row = catalog.update_device(change.device_id, change.fields);
  }
  if (!row.ok()) return row;
  if (create) {
    if (!tracker.contains(row->device_id)) tracker.add(*row);
  } else if (change.fields.type) {
    if (auto t = tracker.set_type(row->device_id, *change.fields.type))
      ingestor.submit_transitions({std::move(*t)});
    ingestor.wake();
  }
  return row;
}

}  // namespace fp::cluster
