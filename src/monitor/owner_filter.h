#pragma once
// Cluster mode (docs/cluster.md): the devices whose status deadlines this process may act on —
// those of the partitions its node serves at that moment. A due deadline of any other device
// changes nothing and is looked at again a second later (DeviceStatusTracker::process_due), so
// a node that wakes from SIGSTOP past its lease flips no status (and so raises no offline
// alert) for partitions it lost, even before its lease thread has run. One cluster node per
// process, so one process-wide filter; unset (single node, tests) = every device.
//
// Thread safety: any thread; `owned` may be called from any thread that sweeps deadlines.

#include <functional>
#include <string>

namespace fp {

void set_status_owner_filter(std::function<bool(const std::string& device_id)> owned);
// True when no filter is set or the filter takes `device_id`.
bool status_owner_filter_takes(const std::string& device_id);

}  // namespace fp
