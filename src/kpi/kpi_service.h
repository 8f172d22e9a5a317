#pragma once
// DeviceKpiService: KPIs of one device or of the fleet by group over a window, from the
// catalog's status history (one scan for the whole fleet), the live status tracker (current
// status, learned cadence) and the DeviceActivityLog.
//
// Thread safety: const after construction; every method may be called from any thread.

#include <optional>
#include <string>
#include <vector>

#include "kpi/device_activity_log.h"
#include "kpi/device_kpis.h"
#include "monitor/device_status_tracker.h"
#include "storage/catalog/catalog.h"
#include "util/clock.h"

namespace fp {

enum class KpiGroupBy { kNone, kType, kLocation };

struct GroupKpis {
  std::string key;  // the type or location ("" for devices without one); "all" for the fleet
  int64_t devices = 0;
  DeviceKpis kpis;
};

struct FleetKpis {
  int64_t window_ms = 0;
  GroupKpis fleet;
  std::vector<GroupKpis> groups;  // ordered by key; empty with KpiGroupBy::kNone
};

class DeviceKpiService {
 public:
  // Every reference must outlive the service.
  DeviceKpiService(Catalog& catalog, const DeviceStatusTracker& tracker,
                   const DeviceActivityLog& activity, const Clock& clock)
      : catalog_(catalog), tracker_(tracker), activity_(activity), clock_(clock) {}

  // kNotFound for an unknown device.
  Result<DeviceKpis> device(const std::string& device_id, int64_t window_ms) const;
  Result<FleetKpis> summary(int64_t window_ms, KpiGroupBy group_by) const;

 private:
  Catalog& catalog_;
  const DeviceStatusTracker& tracker_;
  const DeviceActivityLog& activity_;
  const Clock& clock_;
};

}  // namespace fp
