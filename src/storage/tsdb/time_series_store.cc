#include "storage/tsdb/time_series_store.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>
#include <unordered_map>

#include "storage/tsdb/batch_record.h"
#include "storage/wal/wal_recovery.h"

namespace fp::tsdb {
namespace {

// The first byte of every WAL payload of this store.
enum class RecordType : uint8_t {
  kBatch = 1,
  kDeleteDevice = 2,
  kDeleteAll = 3,
  kForgetDevice = 4
};

void put_i64(std::string& out, int64_t v) {
  char b[8];
  std::memcpy(b, &v, 8);
  out.append(b, 8);
}

}  // namespace

TimeSeriesStore::TimeSeriesStore(FileSystem& fs, StoreOptions options)
    : options_(std::move(options)) {
  (void)fs;
}

TimeSeriesStore::~TimeSeriesStore() {
  if (wal_) (void)wal_->close();
}

Result<std::unique_ptr<TimeSeriesStore>> TimeSeriesStore::open(
    FileSystem& fs, StoreOptions options, const ReplayListener& on_replay, RecoveryReport* report,
    const ReplayRemovalListener& on_removal) {
  const auto started = std::chrono::steady_clock::now();
  std::unique_ptr<TimeSeriesStore> store(new TimeSeriesStore(fs, options));
  const std::string wal_dir = join_path(options.dir, "wal");
  RecoveryReport local;
  RecoveryReport& rep = report ? *report : local;
  Status replay_error;
  auto recovered = recover_wal(fs, wal_dir, 0, [&](uint64_t, std::string_view payload) {
    store->apply_record(payload, on_replay ? &on_replay : nullptr,
                        on_removal ? &on_removal : nullptr, &rep);
    ++rep.records;
    return Status::Ok();
  });
  if (!recovered.ok()) return recovered.status();
  if (recovered->cut) {
    rep.truncated_bytes = recovered->cut->bytes_dropped;
    rep.truncation = describe(*recovered->cut);
  }
  WalOptions wo;
  wo.dir = wal_dir;
  wo.fsync = options.fsync;
  auto writer = WalWriter::open(fs, wo, recovered->next_lsn);
  if (!writer.ok()) return writer.status();
  store->wal_ = std::move(*writer);
  rep.millis = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - started)
                   .count();
  return store;
}

void TimeSeriesStore::apply_record(std::string_view payload, const ReplayListener* on_replay,
                                   const ReplayRemovalListener* on_removal,
                                   RecoveryReport* report) {
  if (payload.empty()) return;
  const auto type = static_cast<RecordType>(payload[0]);
  payload.remove_prefix(1);
  switch (type) {
    case RecordType::kBatch: {
      if (payload.size() < 8) break;
      int64_t received;
      std::memcpy(&received, payload.data(), 8);
      ReadingBatch batch;
      Status s = decode_batch_record(payload.substr(8), batch);
      if (!s.ok()) {
        // The WAL checksum passed, so this is a bug or a format change, not a torn write.
        spdlog::error("event=wal_record_unreadable error=\"{}\"", s.message());
        break;
      }
      apply(batch);
      if (report) report->points += batch.points().size();
      if (on_replay && *on_replay) (*on_replay)(batch, received);
      break;
    }
    case RecordType::kDeleteDevice:
      apply_delete_device(std::string(payload));
      if (on_removal) (*on_removal)(std::string(payload));
      break;
    case RecordType::kForgetDevice:
      if (on_removal) (*on_removal)(std::string(payload));
      break;
    case RecordType::kDeleteAll:
      apply_delete_all();
      if (on_removal) (*on_removal)(std::nullopt);
      break;
    default:
      spdlog::error("event=wal_record_unknown type={}", static_cast<int>(type));
  }
}

Status TimeSeriesStore::log(const ReadingBatch& batch, int64_t received_ms) {
  scratch_.clear();
  scratch_.push_back(static_cast<char>(RecordType::kBatch));
  put_i64(scratch_, received_ms);
  encode_batch_record(batch, scratch_);
  auto lsn = wal_->append(scratch_);
  return lsn.ok() ? Status::Ok() : lsn.status();
}

Status TimeSeriesStore::log_delete_device(const std::string& device) {
  scratch_.clear();
  scratch_.push_back(static_cast<char>(RecordType::kDeleteDevice));
  scratch_ += device;
  auto lsn = wal_->append(scratch_);
  return lsn.ok() ? Status::Ok() : lsn.status();
}

Status TimeSeriesStore::log_forget_device(const std::string& device) {
  scratch_.clear();
  scratch_.push_back(static_cast<char>(RecordType::kForgetDevice));
  scratch_ += device;
  auto lsn = wal_->append(scratch_);
  return lsn.ok() ? Status::Ok() : lsn.status();
}

Status TimeSeriesStore::log_delete_all() {
  scratch_.assign(1, static_cast<char>(RecordType::kDeleteAll));
  auto lsn = wal_->append(scratch_);
  return lsn.ok() ? Status::Ok() : lsn.status();
}

Status TimeSeriesStore::commit() {
  return wal_->commit();
}

void TimeSeriesStore::apply(const ReadingBatch& batch) {
  // Resolve each (device, metric) pair of the batch once, then append its points. A dense
  // table when it is small, a hash map when devices x metrics would be large.
  const size_t n_metrics = batch.metrics().size();
  const size_t cells = batch.devices().size() * n_metrics;
  if (cells <= 4 * batch.points().size() + 1024) {
    std::vector<SeriesId> cache(cells, UINT32_MAX);
    for (const Point& p : batch.points()) {
      SeriesId& id = cache[static_cast<size_t>(p.device) * n_metrics + p.metric];
      if (id == UINT32_MAX)
        id = index_.get_or_create(batch.devices()[p.device], batch.metrics()[p.metric]);
      head_.append(id, p.ts_ms, p.value);
    }
    return;
  }
  std::unordered_map<uint64_t, SeriesId> cache;
  for (const Point& p : batch.points()) {
    auto [it, inserted] = cache.try_emplace((uint64_t{p.device} << 32) | p.metric, 0);
    if (inserted)
      it->second = index_.get_or_create(batch.devices()[p.device], batch.metrics()[p.metric]);
    head_.append(it->second, p.ts_ms, p.value);
  }
}

void TimeSeriesStore::apply_delete_device(const std::string& device) {
  for (SeriesId id : index_.remove_device(device)) head_.drop(id);
}

void TimeSeriesStore::apply_delete_all() {
  for (const auto& d : index_.devices()) apply_delete_device(d);
}

uint64_t TimeSeriesStore::wal_bytes() const {
  return wal_ ? wal_->stats().bytes : 0;
}
WalStats TimeSeriesStore::wal_stats() const {
  return wal_ ? wal_->stats() : WalStats{};
}

}  // namespace fp::tsdb
