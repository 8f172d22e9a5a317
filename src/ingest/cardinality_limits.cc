#include "ingest/cardinality_limits.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "ingest/item_error.h"

namespace fp {
namespace {

constexpr int64_t kTotalRefreshMs = 1'000;
// AdmitScratch::ids of a metric whose pair was admitted before (nothing to store).
constexpr uint32_t kAlreadyAdmitted = UINT32_MAX - 1;

// SeriesAdmission::admit's scratch, for one item at a time; per thread, so that the hot path
// allocates nothing.
struct AdmitScratch {
  std::vector<std::optional<uint32_t>> in_batch;  // each metric name's index in the batch
  std::vector<uint32_t> ids;                      // per metric of the item: id to store
  std::vector<std::string_view> new_series;
  std::unordered_set<std::string_view> seen;  // dedupes one item's names
};
thread_local AdmitScratch admit_scratch;

// SeriesAdmission::in_request_ values.
constexpr uint8_t kNotNamed = 0, kNamed = 1, kNamedByThisItem = 2;

}  // namespace

std::string_view limit_label(LimitKind k) {
  switch (k) {
    case LimitKind::kSeriesPerDevice:
      return "series_per_device_limit";
    case LimitKind::kSeriesTotal:
      return "series_total_limit";
    case LimitKind::kMetricNamesPerRequest:
      return "metric_names_per_request_limit";
    case LimitKind::kRegistrationRate:
      return "registration_rate_limit";
    case LimitKind::kAttributesPerDevice:
      return "attributes_per_device_limit";
    case LimitKind::kNone:
      break;
  }
  return "none";
}

std::string_view limit_option(LimitKind k) {
  switch (k) {
    case LimitKind::kSeriesPerDevice:
      return "--max-series-per-device";
    case LimitKind::kSeriesTotal:
      return "--max-series";
    case LimitKind::kMetricNamesPerRequest:
      return "--max-metric-names-per-request";
    case LimitKind::kRegistrationRate:
      return "--max-registrations-per-minute";
    case LimitKind::kAttributesPerDevice:
      return "--max-attributes-per-device";
    case LimitKind::kNone:
      break;
  }
  return "";
}

size_t CardinalityLimits::total_locked(int64_t now_ms) {
  if (index_total_at_ms_ < 0 || now_ms - index_total_at_ms_ >= kTotalRefreshMs ||
      now_ms < index_total_at_ms_) {
    index_total_ = index_ ? index_->size() : 0;
    index_total_at_ms_ = now_ms;
    committed_since_refresh_ = 0;
  }
  return index_total_ + committed_since_refresh_ + reserved_total_;
}

LimitKind CardinalityLimits::reserve(std::string_view device, size_t n, int64_t now_ms) {
  if (n == 0 || !index_) return LimitKind::kNone;
  std::lock_guard lock(mu_);
  if (options_.max_series_total > 0 && total_locked(now_ms) + n > options_.max_series_total)
    return LimitKind::kSeriesTotal;
  auto it = reserved_by_device_.find(device);
  if (options_.max_series_per_device > 0) {
    size_t have = it == reserved_by_device_.end() ? 0 : it->second;
    index_->for_each_metric(device, [&](std::string_view, tsdb::SeriesId) { ++have; });
    if (have + n > options_.max_series_per_device) return LimitKind::kSeriesPerDevice;
  }
  if (it == reserved_by_device_.end()) it = reserved_by_device_.emplace(device, 0).first;
  it->second += n;
  reserved_total_ += n;
  return LimitKind::kNone;
}

void CardinalityLimits::release(std::string_view device, size_t n) {
  if (n == 0) return;
  std::lock_guard lock(mu_);
  auto it = reserved_by_device_.find(device);
  if (it != reserved_by_device_.end()) {
    it->second -= std::min(it->second, n);
    if (it->second == 0) reserved_by_device_.erase(it);
  }
  reserved_total_ -= std::min(reserved_total_, n);
  // Committed series are in the index now, but the cached index size does not show them yet.
  committed_since_refresh_ += n;
}

bool CardinalityLimits::take_registrations(size_t n, int64_t now_ms, int64_t* retry_after_s) {
  const size_t per_minute = options_.max_registrations_per_minute;
  if (n == 0 || per_minute == 0) return true;
  std::lock_guard lock(mu_);
  const double capacity = static_cast<double>(per_minute);
  const double per_ms = capacity / 60'000.0;
  if (tokens_ < 0) {
    tokens_ = capacity;
  } else if (now_ms > tokens_at_ms_) {
    tokens_ = std::min(capacity, tokens_ + static_cast<double>(now_ms - tokens_at_ms_) * per_ms);
  }
  tokens_at_ms_ = std::max(tokens_at_ms_, now_ms);
  const double want = static_cast<double>(n);
  if (tokens_ >= want) {
    tokens_ -= want;
    return true;
  }
  if (retry_after_s) {
    // More than a bucket's worth never fits: come back once it is full.
    const double missing = std::min(want, capacity) - tokens_;
    *retry_after_s = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(missing / per_ms / 1000)));
  }
  return false;
}

size_t CardinalityLimits::reserved() const {
  std::lock_guard lock(mu_);
  return reserved_total_;
}

SeriesAdmission::~SeriesAdmission() {
  for (const auto& [device, n] : reserved_) limits_.release(device, n);
}

size_t SeriesAdmission::refused_total() const {
  size_t n = 0;
  for (size_t r : refused_) n += r;
  return n;
}

void SeriesAdmission::begin_request() {
  per_request_ = limits_.options().max_metric_names_per_request > 0;
  std::fill(in_request_.begin(), in_request_.end(), kNotNamed);
  request_names_ = 0;
}

std::string SeriesAdmission::refuse(LimitKind k, std::string message) {
  ++refused_[static_cast<int>(k)];
  for (uint8_t& named : in_request_)  // the refused item named nothing
    if (named == kNamedByThisItem) named = kNotNamed;
  return message;
}

std::string SeriesAdmission::admit_metric_names(const ReadingBatch& batch,
                                                std::span<const std::string_view> metrics) {
  const size_t max_names = limits_.options().max_metric_names_per_request;
  if (max_names == 0) return {};
  AdmitScratch& s = admit_scratch;
  // Names new to the batch count; with begin_request(), so do the batch's names this request
  // has not named yet.
  size_t named = batch.metrics().size();
  if (per_request_) {
    in_request_.resize(batch.metrics().size(), kNotNamed);
    named = request_names_;
  }
  s.seen.clear();
  for (size_t i = 0; i < metrics.size(); ++i) {
    const std::string_view m = metrics[i];
    if (const std::optional<uint32_t> mi = s.in_batch[i]) {
      if (!per_request_ || in_request_[*mi] != kNotNamed) continue;
      in_request_[*mi] = kNamedByThisItem;
    } else if (!s.seen.insert(m).second) {
      continue;
    }
    if (++named > max_names)
      return refuse(LimitKind::kMetricNamesPerRequest,
                    fmt::format("metric {} would be distinct metric name {} of this request: at "
                                "most {} are allowed per request ({})",
                                name_for_message(m), max_names + 1, max_names,
                                limit_option(LimitKind::kMetricNamesPerRequest)));
  }
  return {};
}

std::string SeriesAdmission::admit(ReadingBatch& batch, std::string_view device,
                                   std::span<const std::string_view> metrics) {
  const CardinalityLimitOptions& opt = limits_.options();
  const tsdb::SeriesIndex* index = limits_.index();
  AdmitScratch& s = admit_scratch;

  // The device's and each metric name's index in the batch, looked up once per item (nullopt:
  // new to the batch).
  s.in_batch.clear();
  for (std::string_view m : metrics) s.in_batch.push_back(batch.find_metric(m));
  const std::optional<uint32_t> d = batch.find_device(device);

  // Distinct metric names in this request, counted before any is interned (stopping at the
  // first one over the limit, so a huge item costs no more than the limit).
  if (std::string e = admit_metric_names(batch, metrics); !e.empty()) return e;
  // The item's names count in its request from now on.
  auto named = [&](uint32_t mi) {
    if (!per_request_) return;
    if (in_request_.size() <= mi) in_request_.resize(mi + 1, kNotNamed);
    if (in_request_[mi] != kNamed) {
      in_request_[mi] = kNamed;
      ++request_names_;
    }
  };

  // Fast path, the common case: every pair of the item was admitted earlier in this batch.
  SeriesPairs& admitted = batch.resolved_series();
  if (index && d) {
    bool all = true;
    for (const std::optional<uint32_t>& mi : s.in_batch) {
      if (!mi || !admitted.find(SeriesPairs::key(*d, *mi))) {
        all = false;
        break;
      }
    }
    if (all) {
      for (const std::optional<uint32_t>& mi : s.in_batch) named(*mi);
      return {};
    }
  }

  // Series this item would create, looked up in the store's index once per batch and pair.
  // The ids found are handed to the batch (below), so the Ingestor does not look them up again.
  s.new_series.clear();
  s.seen.clear();
  s.ids.assign(metrics.size(), kAlreadyAdmitted);
  if (index) {
    if (admitted.empty()) admitted.generation = index->removals();  // before the first lookup
    for (size_t i = 0; i < metrics.size(); ++i) {
      const std::string_view m = metrics[i];
      if (d && s.in_batch[i] && admitted.find(SeriesPairs::key(*d, *s.in_batch[i]))) continue;
      if (const std::optional<tsdb::SeriesId> id = index->find(device, m)) {
        s.ids[i] = *id;
        continue;
      }
      s.ids[i] = SeriesPairs::kUnresolved;
      if (s.seen.insert(m).second) s.new_series.push_back(m);
    }
  }
  if (!s.new_series.empty()) {
    const std::string_view first = s.new_series.front();
    LimitKind hit = total_full_ ? LimitKind::kSeriesTotal
                    : full_devices_.count(std::string(device))
                        ? LimitKind::kSeriesPerDevice
                        : limits_.reserve(device, s.new_series.size(), now_ms_);
    switch (hit) {
      case LimitKind::kSeriesTotal:
        // Remember "full" only when not even one more fits (a larger item may not fit where a
        // smaller one still would).
        if (s.new_series.size() == 1) total_full_ = true;
        return refuse(
            hit, fmt::format("metric {} would be a new series, but the server holds "
                             "the most series allowed: {} ({})",
                             name_for_message(first), opt.max_series_total, limit_option(hit)));
      case LimitKind::kSeriesPerDevice:
        if (s.new_series.size() == 1) full_devices_.emplace(device);
        return refuse(hit, fmt::format("metric {} would be a new series of device {}, which has "
                                       "the most series allowed per device: {} ({})",
                                       name_for_message(first), quote_for_message(device),
                                       opt.max_series_per_device, limit_option(hit)));
      default:
        break;
    }
    reserved_[std::string(device)] += s.new_series.size();
  }

  const uint32_t di = d ? *d : batch.intern_device(device);
  for (size_t i = 0; i < metrics.size(); ++i) {
    const uint32_t mi = s.in_batch[i] ? *s.in_batch[i] : batch.intern_metric(metrics[i]);
    if (index && s.ids[i] != kAlreadyAdmitted) admitted.put(SeriesPairs::key(di, mi), s.ids[i]);
    named(mi);
  }
  return {};
}

std::string CardinalityLimits::admit_attribute_keys(const ReadingBatch& batch,
                                                    const KnownKeys& known_keys,
                                                    size_t first_attribute) {
  const size_t limit = options_.max_attributes_per_device;
  if (limit == 0 || batch.attributes().size() <= first_attribute) return {};
  constexpr size_t kMaxCachedDevices = 10'000;
  // The batch's keys by device.
  std::unordered_map<uint32_t, std::unordered_set<std::string_view>> wanted;
  for (size_t i = first_attribute; i < batch.attributes().size(); ++i)
    wanted[batch.attributes()[i].device].insert(batch.attributes()[i].key);
  // Devices not cached yet are read outside the lock (a catalog read).
  std::vector<std::pair<uint32_t, std::vector<std::string>>> loaded;
  {
    std::lock_guard lock(attr_mu_);
    for (const auto& [device, keys] : wanted)
      if (!attribute_keys_.count(batch.devices()[device]))
        loaded.emplace_back(device, std::vector<std::string>{});
  }
  for (auto& [device, keys] : loaded) keys = known_keys(batch.devices()[device]);
  std::lock_guard lock(attr_mu_);
  if (attribute_keys_.size() + loaded.size() > kMaxCachedDevices) attribute_keys_.clear();
  for (auto& [device, keys] : loaded)
    attribute_keys_.try_emplace(batch.devices()[device], std::make_move_iterator(keys.begin()),
                                std::make_move_iterator(keys.end()));
  for (const auto& [device, keys] : wanted) {
    const std::string& id = batch.devices()[device];
    const auto& known = attribute_keys_[id];
    size_t total = known.size();
    for (std::string_view k : keys) total += known.count(std::string(k)) ? 0 : 1;
    if (total > limit)
      return fmt::format(
          "device {} would have {} distinct attribute keys, more than {} allows ({})",
          quote_for_message(id), total, limit_option(LimitKind::kAttributesPerDevice), limit);
  }
  for (const auto& [device, keys] : wanted) {
    auto& known = attribute_keys_[batch.devices()[device]];
    for (std::string_view k : keys) known.emplace(k);
  }
  return {};
}

void CardinalityLimits::forget_device(const std::string& device) {
  std::lock_guard lock(attr_mu_);
  attribute_keys_.erase(device);
}

}  // namespace fp
