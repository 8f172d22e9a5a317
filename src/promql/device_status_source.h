#pragma once
// Device status over time as PromQL series, from the catalog's status history:
//   fleetpulse_device_up{device_id, type, location}              1 while online, else 0
//   fleetpulse_device_status{device_id, type, location, status}  1 for the status in effect
//                                                                (online, at_risk, offline,
//                                                                unknown), 0 for the others
// sampled at the start of the asked range (or the device's first recorded transition), every
// whole minute, and at the range's end (`now` at the latest), so the 5-minute lookback always
// finds a sample while the device exists. Devices of the timeline are sorted by id.

#include <functional>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "model/device.h"
#include "promql/series_source.h"
#include "promql/telemetry_source.h"

namespace fp::promql {

inline constexpr int64_t kStatusSampleMs = 60'000;

// Each device's transitions, oldest first: (at_ms, status from then on).
using StatusTimeline =
    std::unordered_map<std::string, std::vector<std::pair<int64_t, DeviceStatus>>>;

class DeviceStatusSource : public SeriesSource {
 public:
  // `load` fills the timeline; it is called at most once, on the first select that can match
  // these metrics. `devices` must outlive the source.
  DeviceStatusSource(std::function<Status(StatusTimeline&)> load, const DeviceLabelMap& devices,
                     int64_t now_ms)
      : load_(std::move(load)), devices_(devices), now_ms_(now_ms) {}
  Status select(const std::vector<LabelMatcher>& matchers, int64_t mint, int64_t maxt,
                bool with_points, QueryBudget& budget, Matrix& out) const override;

 private:
  const StatusTimeline* timeline() const;

  std::function<Status(StatusTimeline&)> load_;
  const DeviceLabelMap& devices_;
  const int64_t now_ms_;
  mutable std::once_flag loaded_;
  mutable StatusTimeline timeline_;
  mutable Status load_status_;
};

}  // namespace fp::promql
