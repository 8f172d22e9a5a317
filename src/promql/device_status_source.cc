#include "promql/device_status_source.h"

#include <algorithm>

namespace fp::promql {
namespace {

constexpr std::string_view kUp = "fleetpulse_device_up";
constexpr std::string_view kStatus = "fleetpulse_device_status";
constexpr DeviceStatus kStatuses[] = {DeviceStatus::kOnline, DeviceStatus::kAtRisk,
                                      DeviceStatus::kOffline, DeviceStatus::kUnknown};

bool name_may_match(const std::vector<LabelMatcher>& matchers, std::string_view name) {
  for (const auto& m : matchers)
    if (m.name == kMetricName && !m.matches(name)) return false;
  return true;
}

}  // namespace

const StatusTimeline* DeviceStatusSource::timeline() const {
  std::call_once(loaded_, [this] { load_status_ = load_(timeline_); });
  return load_status_.ok() ? &timeline_ : nullptr;
}

Status DeviceStatusSource::select(const std::vector<LabelMatcher>& matchers, int64_t mint,
                                  int64_t maxt, bool with_points, QueryBudget& budget,
                                  Matrix& out) const {
  const bool want_up = name_may_match(matchers, kUp);
  const bool want_status = name_may_match(matchers, kStatus);
  if (!want_up && !want_status) return Status::Ok();
  const StatusTimeline* tl = timeline();
  if (!tl) return load_status_;
  std::vector<std::string> ids;
  ids.reserve(tl->size());
  for (const auto& [id, _] : *tl) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  const int64_t last = std::min(maxt, now_ms_);
  for (const std::string& id : ids) {
    const auto& changes = tl->at(id);
    if (changes.empty()) continue;
    Labels base{{"device_id", id}};
    if (auto d = devices_.find(id); d != devices_.end()) {
      if (!d->second.location.empty()) base.emplace_back("location", d->second.location);
      if (!d->second.type.empty()) base.emplace_back("type", d->second.type);
    }
    // Samples at the first time in range, then on every whole minute, and at the end of the
    // range (now at the latest), so a device registered seconds ago has its status too.
    const int64_t from = std::max(mint, changes.front().first);
    if (from > last) continue;
    std::vector<int64_t> times{from};
    for (int64_t t = (from / kStatusSampleMs + 1) * kStatusSampleMs; t <= last;
         t += kStatusSampleMs)
      times.push_back(t);
    if (times.back() != last) times.push_back(last);
    auto emit = [&](Labels ls, const std::function<double(DeviceStatus)>& value) -> Status {
      if (!matches_all(matchers, ls)) return Status::Ok();
      Series s{std::move(ls), {}};
      if (with_points) {
        size_t c = 0;
        for (int64_t t : times) {
          while (c + 1 < changes.size() && changes[c + 1].first <= t) ++c;
          s.points.push_back({t, value(changes[c].second)});
        }
      }
      if (auto st = budget.take_series(); !st.ok()) return st;
      if (auto st = budget.take_points(s.points.size()); !st.ok()) return st;
      out.push_back(std::move(s));
      return Status::Ok();
    };
    if (want_up) {
      Labels ls{{std::string(kMetricName), std::string(kUp)}};
      ls.insert(ls.end(), base.begin(), base.end());
      if (auto st = emit(std::move(ls),
                         [](DeviceStatus s) { return s == DeviceStatus::kOnline ? 1.0 : 0.0; });
          !st.ok())
        return st;
    }
    if (want_status) {
      for (DeviceStatus which : kStatuses) {
        Labels ls{{std::string(kMetricName), std::string(kStatus)}};
        ls.insert(ls.end(), base.begin(), base.end());
        set_label(ls, "status", to_string(which));
        if (auto st =
                emit(std::move(ls), [which](DeviceStatus s) { return s == which ? 1.0 : 0.0; });
            !st.ok())
          return st;
      }
    }
  }
  return Status::Ok();
}

}  // namespace fp::promql
