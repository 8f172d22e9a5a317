#pragma once
// Cardinality limits of the write path: how many series a device may have, how many series the
// server holds in all, how many distinct metric names one request may carry, and how many
// devices may be auto-registered per minute. They bound the memory a client can make the
// server spend (each series costs its index entry and head buffers; each device its tracker
// entry and catalog row) whatever the client sends.
//
// CardinalityLimits is shared by every transport (one per server, owned by the Ingestor).
// SeriesAdmission is made per request/message: decoders ask it, item by item and before the
// item adds anything to its batch, whether the item's series may be created; it reserves the
// new ones until the batch is committed (its destructor releases them: by then they are in the
// store's index, or were never written). Reservations make concurrent requests see each other,
// so the limits hold exactly (at worst they refuse slightly early, never late).
//
// Series are counted in the store's index (tsdb::SeriesIndex). The total is taken from the
// index at most once a second (it costs a pass over the devices) plus what was reserved and
// committed since; a device's count is taken from the index on each reservation.
//
// Thread safety: CardinalityLimits may be used from any thread. A SeriesAdmission belongs to
// one request: use it from one thread at a time.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "model/reading_batch.h"
#include "storage/tsdb/series_index.h"

namespace fp {

struct CardinalityLimitOptions {
  // 0 means "no limit" for each of these.
  size_t max_series_per_device = 1'000;
  size_t max_series_total = 1'000'000;
  size_t max_metric_names_per_request = 10'000;
  size_t max_registrations_per_minute = 10'000;
  size_t max_attributes_per_device = 1'000;  // distinct attribute keys (mqttdur)
};

// Which limit refused an item or a request (for messages and the /metrics reason label).
enum class LimitKind : uint8_t {
  kNone,
  kSeriesPerDevice,
  kSeriesTotal,
  kMetricNamesPerRequest,
  kRegistrationRate,
  kAttributesPerDevice,
};
inline constexpr int kLimitKindCount = 6;

// "series_per_device_limit", "series_total_limit", ... : the ingest_rejected reason label.
std::string_view limit_label(LimitKind k);
// The option that sets the limit, e.g. "--max-series-per-device".
std::string_view limit_option(LimitKind k);

class CardinalityLimits {
 public:
  explicit CardinalityLimits(CardinalityLimitOptions options) : options_(options) {}

  // The index series are counted in; null (no telemetry store) disables the series limits.
  // Set before the first request.
  void set_index(const tsdb::SeriesIndex* index) { index_ = index; }
  const CardinalityLimitOptions& options() const { return options_; }
  const tsdb::SeriesIndex* index() const { return index_; }

  // Reserves `n` new series of `device` at `now_ms`: kNone when they fit under both series
  // limits (then they count until release()), else the limit they would exceed (nothing is
  // reserved).
  LimitKind reserve(std::string_view device, size_t n, int64_t now_ms);
  // Gives reservations back once their batch is committed (or was not written).
  void release(std::string_view device, size_t n);

  // Takes `n` auto-registrations from the per-minute budget (a token bucket holding at most a
  // minute's worth): true when there were enough (all are taken), else false and
  // `*retry_after_s` (when given) is set to the seconds until there will be.
  bool take_registrations(size_t n, int64_t now_ms, int64_t* retry_after_s = nullptr);

  // Series currently reserved by requests in flight (for tests and /metrics).
  size_t reserved() const;

  // Keeps every device of `batch` within max_attributes_per_device distinct attribute keys
  // (string values, units, line-protocol tags). `known_keys(device)` gives the keys a device
  // already has (its catalog rows); it is asked once per device while the device's keys are
  // cached (at most 10,000 devices; beyond, the cache starts over). Empty when the batch fits
  // (its new keys count from now on, even if it is not stored: at worst a later batch is
  // refused early); else the message naming the device and the option, nothing counted.
  // Only the attributes from `first_attribute` on are checked (those before it were admitted
  // by an earlier call: a batch that holds several messages).
  using KnownKeys = std::function<std::vector<std::string>(const std::string& device)>;
  std::string admit_attribute_keys(const ReadingBatch& batch, const KnownKeys& known_keys,
                                   size_t first_attribute = 0);
  // The device was deleted (its catalog rows with it): drops its cached keys, so that a device
  // re-created with the same id starts with an empty budget.
  void forget_device(const std::string& device);

 private:
  // Needs mu_: the series in the index plus those committed since the last refresh.
  size_t total_locked(int64_t now_ms);

  const CardinalityLimitOptions options_;
  const tsdb::SeriesIndex* index_ = nullptr;

  mutable std::mutex mu_;
  size_t index_total_ = 0;              // mu_: index size at the last refresh
  int64_t index_total_at_ms_ = -1;      // mu_: when it was taken (-1: never)
  size_t committed_since_refresh_ = 0;  // mu_: released after commit since then
  size_t reserved_total_ = 0;           // mu_
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, size_t, Hash, std::equal_to<>> reserved_by_device_;  // mu_
  double tokens_ = -1;        // mu_: registrations available (-1: bucket not started)
  int64_t tokens_at_ms_ = 0;  // mu_

  std::mutex attr_mu_;
  std::unordered_map<std::string, std::unordered_set<std::string>> attribute_keys_;  // attr_mu_
};

// The limits as one request sees them. Decoders call admit() for each valid item just before
// adding it to the batch. Not thread-safe; destroy it once the batch is committed or dropped.
class SeriesAdmission {
 public:
  // `limits` must outlive this object.
  SeriesAdmission(CardinalityLimits& limits, int64_t now_ms) : limits_(limits), now_ms_(now_ms) {}
  ~SeriesAdmission();
  SeriesAdmission(const SeriesAdmission&) = delete;
  SeriesAdmission& operator=(const SeriesAdmission&) = delete;

  // May the item of `device` with these metric names go into `batch`? Empty when yes: then
  // the device and the metric names are already interned in `batch`, the item's new series
  // are reserved and each pair's series id (or SeriesPairs::kUnresolved for a new one) is in
  // batch.resolved_series(). Otherwise the message naming the limit and its option, and
  // nothing changed.
  std::string admit(ReadingBatch& batch, std::string_view device,
                    std::span<const std::string_view> metrics);

  // The items admitted from here on are a new request for max_metric_names_per_request,
  // though they join the same batch (MQTT: each PUBLISH of a socket read is a request, the
  // read's batch holds them all). Without it the batch's metric names are the request's.
  void begin_request();

  // Items refused so far, by limit (indexed by LimitKind).
  size_t refused(LimitKind k) const { return refused_[static_cast<int>(k)]; }
  size_t refused_total() const;

 private:
  std::string refuse(LimitKind k, std::string message);
  // Counts the item's metric names against max_metric_names_per_request; empty when they fit.
  std::string admit_metric_names(const ReadingBatch& batch,
                                 std::span<const std::string_view> metrics);

  CardinalityLimits& limits_;
  const int64_t now_ms_;
  // The pairs already admitted (known series or reserved ones) are the batch's
  // resolved_series(): admit() stores each pair's id there (engine branch).
  // (The per-item scratch of admit() is per thread, in the .cc: nothing here to free.)
  std::unordered_map<std::string, size_t> reserved_;  // by device, to release
  // begin_request(): for each batch metric index, whether the current request named it.
  bool per_request_ = false;
  std::vector<uint8_t> in_request_;
  size_t request_names_ = 0;                      // distinct metric names of the current request
  bool total_full_ = false;                       // once refused for the total, the rest is too
  std::unordered_set<std::string> full_devices_;  // devices refused for their own limit
  size_t refused_[kLimitKindCount] = {};
};

}  // namespace fp
