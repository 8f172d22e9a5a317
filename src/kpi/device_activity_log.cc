#include "kpi/device_activity_log.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>

namespace fp {
namespace {

constexpr std::string_view kJournalName = "activity.journal";
constexpr std::string_view kRewriteName = "activity.journal.tmp";
// The journal is rewritten once it is this much larger than its last rewrite (and over 1 MiB).
constexpr uint64_t kCompactFactor = 4;
constexpr uint64_t kCompactMinBytes = 1 << 20;

// The offset of the first whole, valid record of `data` at or after `from` (npos: none).
size_t next_valid_record(std::string_view data, size_t from) {
  for (size_t q = from; q + kActivityFrameHeaderSize <= data.size(); ++q) {
    uint32_t n = 0;
    std::memcpy(&n, data.data() + q, 4);
    if (n < 3 || n > kMaxActivityPayloadBytes || data.size() - q - kActivityFrameHeaderSize < n)
      continue;
    const auto r = decode_activity_records(data.substr(q, kActivityFrameHeaderSize + n),
                                           [](const ActivityRecord&) {});
    if (r.records == 1) return q;
  }
  return std::string_view::npos;
}

int64_t floor_div(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

}  // namespace

DeviceActivityLog::~DeviceActivityLog() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  if (file_) {
    (void)write_pending_locked();
    (void)file_->sync();
  }
}

Status DeviceActivityLog::open(FileSystem& fs, const std::string& dir) {
  std::lock_guard lock(mu_);
  FP_RETURN_IF_ERROR(fs.create_dir(dir));
  const std::string path = join_path(dir, kJournalName);
  (void)fs.remove_file(join_path(dir, kRewriteName));  // a rewrite that did not finish
  uint64_t keep = 0;
  if (fs.exists(path)) {
    FP_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> mapped, fs.map_file(path));
    const std::string_view bytes = mapped->bytes();
    if (bytes.size() >= kActivityJournalHeader.size() &&
        bytes.substr(0, kActivityJournalHeader.size()) == kActivityJournalHeader) {
      // A damaged record costs only itself: decoding goes on at the next valid record. Only
      // a tail where nothing valid follows (a torn append) is cut.
      const std::string_view data = bytes.substr(kActivityJournalHeader.size());
      size_t pos = 0;
      for (;;) {
        const ActivityDecodeResult r = decode_activity_records(
            data.substr(pos), [this](const ActivityRecord& rec) { apply_locked(rec); });
        pos += r.valid_bytes;
        stats_.replayed += r.records;
        if (r.clean) break;
        const size_t next = next_valid_record(data, pos + 1);
        if (next == std::string_view::npos) break;
        spdlog::error("event=kpi_journal_damage offset={} bytes_skipped={}",
                      kActivityJournalHeader.size() + pos, next - pos);
        stats_.damaged_bytes += next - pos;
        ++stats_.damaged_stretches;
        pos = next;
      }
      keep = kActivityJournalHeader.size() + pos;
    }
    if (keep == 0 && !bytes.empty()) {
      // Not a journal this build can read (another version?): kept aside, never deleted.
      mapped.reset();
      const std::string aside = path + ".unreadable";
      FP_RETURN_IF_ERROR(fs.rename(path, aside));
      spdlog::error("event=kpi_journal_unreadable moved_to={}", aside);
    }
    stats_.dropped_bytes = keep == 0 ? 0 : bytes.size() - keep;
    if (keep > 0 && keep < bytes.size()) {
      spdlog::warn("event=kpi_journal_tail_cut bytes={} kept_records={}", bytes.size() - keep,
                   stats_.replayed);
    }
  }
  if (stats_.damaged_stretches > 0) {
    // The damaged journal goes to quarantine whole (never deleted); a fresh one holds what
    // was read from it, so the damage is not met again at the next start.
    const std::string quarantine = join_path(dir, "quarantine");
    FP_RETURN_IF_ERROR(fs.create_dir(quarantine));
    std::string aside;
    for (int i = 1; aside.empty() || fs.exists(aside); ++i)
      aside = join_path(quarantine, std::string(kJournalName) + "." + std::to_string(i));
    FP_RETURN_IF_ERROR(fs.rename(path, aside));
    const std::string tmp = join_path(dir, kRewriteName);
    FP_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> f, fs.open_writable(tmp, false));
    FP_RETURN_IF_ERROR(f->append(snapshot_locked()));
    FP_RETURN_IF_ERROR(f->sync());
    FP_RETURN_IF_ERROR(f->close());
    FP_RETURN_IF_ERROR(fs.rename(tmp, path));
    FP_RETURN_IF_ERROR(fs.sync_dir(dir));
    FP_RETURN_IF_ERROR(fs.sync_dir(quarantine));
    stats_.damage_unacknowledged = true;
    damage_unacknowledged_ = true;
    stats_.quarantined =
        std::string(kJournalName) + " -> quarantine/" + aside.substr(quarantine.size() + 1);
    spdlog::error("event=kpi_journal_quarantined stretches={} bytes_skipped={} copy={}",
                  stats_.damaged_stretches, stats_.damaged_bytes, aside);
  } else if (keep == 0) {
    // New (or unreadable from its first byte): start it with a header, durably.
    FP_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> f, fs.open_writable(path, false));
    FP_RETURN_IF_ERROR(f->append(kActivityJournalHeader));
    FP_RETURN_IF_ERROR(f->sync());
    FP_RETURN_IF_ERROR(f->close());
    FP_RETURN_IF_ERROR(fs.sync_dir(dir));
  } else if (stats_.dropped_bytes > 0) {
    FP_RETURN_IF_ERROR(fs.truncate(path, keep));
  }
  FP_ASSIGN_OR_RETURN(file_, fs.open_writable(path, true));
  damage_ = stats_;
  fs_ = &fs;
  dir_ = dir;
  snapshot_bytes_ = file_->size();
  stats_.bytes = file_->size();
  thread_ = std::thread([this] { sync_thread(); });
  return Status::Ok();
}

void DeviceActivityLog::sync_thread() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    stop_cv_.wait_for(lock, std::chrono::seconds(1));
    if (stopping_) break;
    const uint64_t compact_bytes = std::max(kCompactMinBytes, snapshot_bytes_ * kCompactFactor);
    lock.unlock();
    (void)sync(compact_bytes);
    lock.lock();
  }
}

Status DeviceActivityLog::sync(uint64_t compact_bytes) {
  std::lock_guard one_at_a_time(sync_mu_);
  bool compact = false;
  Status s;
  {
    std::lock_guard lock(mu_);
    if (!file_) return Status::Ok();
    s = write_pending_locked();
    if (s.ok() && unsynced_) {
      s = file_->sync();
      if (s.ok()) unsynced_ = false;
    }
    compact = s.ok() && file_->size() > compact_bytes;
  }
  if (compact) s = compact_journal();
  if (!s.ok()) {
    std::lock_guard lock(mu_);
    ++stats_.write_errors;
    spdlog::error("event=kpi_journal_sync_failed error=\"{}\"", s.message());
  }
  return s;
}

// ---- changes --------------------------------------------------------------------------------

DeviceActivityLog::Bucket& DeviceActivityLog::bucket(Entry& e, int64_t at_ms) {
  const int64_t hour = floor_div(at_ms, kHourMs);
  auto at = std::lower_bound(e.hours.begin(), e.hours.end(), hour,
                             [](const Bucket& b, int64_t h) { return b.hour < h; });
  if (at != e.hours.end() && at->hour == hour) return *at;
  const size_t index = static_cast<size_t>(at - e.hours.begin());
  if (e.hours.size() == e.hours.capacity())  // grow 1, 2, 4, 8, 16, then kHours + 1 at most
    e.hours.reserve(std::min<size_t>(std::max<size_t>(1, 2 * e.hours.size()), kHours + 1));
  e.hours.insert(e.hours.begin() + static_cast<ptrdiff_t>(index), Bucket{hour, {}});
  e.newest_hour = std::max(e.newest_hour, hour);
  // Hours that fell out of the window go; the new one is never among them (apply_locked
  // drops records older than the window).
  const size_t stale = static_cast<size_t>(
      std::find_if(e.hours.begin(), e.hours.end(),
                   [&](const Bucket& b) { return b.hour > e.newest_hour - kHours; }) -
      e.hours.begin());
  e.hours.erase(e.hours.begin(), e.hours.begin() + static_cast<ptrdiff_t>(stale));
  return e.hours[index - stale];
}

bool DeviceActivityLog::apply_locked(const ActivityRecord& r) {
  switch (r.type) {
    case ActivityRecordType::kTotals: {
      Entry& e = devices_[r.device];
      const int64_t hour = floor_div(r.at_ms, kHourMs);
      if (hour <= e.newest_hour - kHours) return false;  // older than every hour kept
      ActivityTotals& t = bucket(e, r.at_ms).totals;
      t.messages += r.messages;
      t.bytes += r.bytes;
      t.rejected += r.rejected;
      return true;
    }
    case ActivityRecordType::kResponse: {
      Entry& e = devices_[r.device];
      if (e.response.size() < kResponseSamples) {
        e.response.emplace_back(r.at_ms, static_cast<float>(r.value));
      } else {
        e.response[e.response_next] = {r.at_ms, static_cast<float>(r.value)};
        e.response_next = (e.response_next + 1) % kResponseSamples;
      }
      return true;
    }
    case ActivityRecordType::kBattery: {
      Entry& e = devices_[r.device];
      if (!e.battery.empty() && r.at_ms - e.last_battery_ms < kBatterySpacingMs) return false;
      e.last_battery_ms = r.at_ms;
      if (e.battery.size() < kBatterySamples) {
        e.battery.push_back({r.at_ms, r.value});
      } else {
        e.battery[e.battery_next] = {r.at_ms, r.value};
        e.battery_next = (e.battery_next + 1) % kBatterySamples;
      }
      return true;
    }
    case ActivityRecordType::kForget:
      return devices_.erase(r.device) > 0;
    case ActivityRecordType::kClear:
      devices_.clear();
      return true;
  }
  return false;
}

void DeviceActivityLog::record_locked(const ActivityRecord& r) {
  if (apply_locked(r) && file_) append_activity_record(r, pending_);
}

void DeviceActivityLog::record_message(const std::string& device, int64_t at_ms, uint64_t bytes) {
  record_messages(device, at_ms, 1, bytes);
}

void DeviceActivityLog::record_messages(const std::string& device, int64_t at_ms, uint64_t messages,
                                        uint64_t bytes) {
  ActivityRecord r{ActivityRecordType::kTotals, device, at_ms, messages, bytes, 0, 0};
  std::lock_guard lock(mu_);
  record_locked(r);
}

void DeviceActivityLog::record_rejected(const std::string& device, int64_t at_ms, uint64_t count) {
  ActivityRecord r{ActivityRecordType::kTotals, device, at_ms, 0, 0, count, 0};
  std::lock_guard lock(mu_);
  record_locked(r);
  (void)write_pending_locked();
}

void DeviceActivityLog::record_response_time(const std::string& device, int64_t at_ms, double ms) {
  ActivityRecord r{ActivityRecordType::kResponse, device, at_ms, 0, 0, 0, ms};
  std::lock_guard lock(mu_);
  record_locked(r);
}

void DeviceActivityLog::record_battery(const std::string& device, int64_t at_ms, double level) {
  ActivityRecord r{ActivityRecordType::kBattery, device, at_ms, 0, 0, 0, level};
  std::lock_guard lock(mu_);
  record_locked(r);
}

void DeviceActivityLog::forget(const std::string& device) {
  ActivityRecord r{ActivityRecordType::kForget, device, 0, 0, 0, 0, 0};
  std::lock_guard lock(mu_);
  // Journaled even when nothing is in memory: the journal may still hold older records.
  apply_locked(r);
  if (file_) append_activity_record(r, pending_);
  (void)write_pending_locked();
}

void DeviceActivityLog::clear() {
  ActivityRecord r{ActivityRecordType::kClear, "", 0, 0, 0, 0, 0};
  std::lock_guard lock(mu_);
  record_locked(r);
  (void)write_pending_locked();
}

Status DeviceActivityLog::write_pending() {
  std::lock_guard lock(mu_);
  return write_pending_locked();
}

Status DeviceActivityLog::write_pending_locked() {
  if (!file_ || pending_.empty()) return Status::Ok();
  Status s = file_->append(pending_);
  if (s.ok() && compacting_) written_meanwhile_ += pending_;
  pending_.clear();
  if (!s.ok()) {
    // The records stay applied in memory; counted and logged, never retried (a partial
    // append is cut as a torn tail at the next start).
    ++stats_.write_errors;
    spdlog::error("event=kpi_journal_write_failed error=\"{}\"", s.message());
    return s;
  }
  unsynced_ = true;
  stats_.bytes = file_->size();
  return s;
}

// ---- compaction -----------------------------------------------------------------------------

std::string DeviceActivityLog::snapshot_locked() const {
  std::string out(kActivityJournalHeader);
  ActivityRecord r;
  for (const auto& [id, e] : devices_) {
    r.device = id;
    std::vector<const Bucket*> buckets;
    for (const Bucket& b : e.hours)
      if (b.hour >= 0 && b.hour > e.newest_hour - kHours) buckets.push_back(&b);
    std::sort(buckets.begin(), buckets.end(),
              [](const Bucket* a, const Bucket* b) { return a->hour < b->hour; });
    r.type = ActivityRecordType::kTotals;
    for (const Bucket* b : buckets) {
      r.at_ms = b->hour * kHourMs;
      r.messages = b->totals.messages;
      r.bytes = b->totals.bytes;
      r.rejected = b->totals.rejected;
      append_activity_record(r, out);
    }
    r.type = ActivityRecordType::kResponse;
    for (size_t i = 0; i < e.response.size(); ++i) {
      const auto& [at, ms] = e.response[(e.response_next + i) % e.response.size()];
      r.at_ms = at;
      r.value = ms;
      append_activity_record(r, out);
    }
    r.type = ActivityRecordType::kBattery;
    for (size_t i = 0; i < e.battery.size(); ++i) {
      const BatterySample& s = e.battery[(e.battery_next + i) % e.battery.size()];
      r.at_ms = s.at_ms;
      r.value = s.level;
      append_activity_record(r, out);
    }
  }
  return out;
}

Status DeviceActivityLog::compact_journal() {
  const std::string tmp = join_path(dir_, kRewriteName);
  const std::string path = join_path(dir_, kJournalName);
  std::string bytes;
  {
    std::lock_guard lock(mu_);
    FP_RETURN_IF_ERROR(write_pending_locked());
    bytes = snapshot_locked();
    compacting_ = true;  // from here, what is written is also kept for the new file
  }
  // The state as of now, written and synced without the lock (the slow part).
  std::unique_ptr<WritableFile> f;
  Status s = Status::Ok();
  if (auto opened = fs_->open_writable(tmp, false); opened.ok())
    f = std::move(*opened);
  else
    s = opened.status();
  if (s.ok()) s = f->append(bytes);
  if (s.ok()) s = f->sync();
  std::lock_guard lock(mu_);
  compacting_ = false;
  // Then what was written meanwhile, and the switch: until the rename the old journal is the
  // durable one (it holds everything), and it stays open.
  if (s.ok()) s = write_pending_locked();
  if (s.ok()) s = f->append(written_meanwhile_);
  written_meanwhile_.clear();
  if (s.ok()) s = f->sync();
  if (s.ok()) s = fs_->rename(tmp, path);
  if (!s.ok()) return s;
  file_ = std::move(f);
  unsynced_ = false;
  snapshot_bytes_ = file_->size();
  stats_.bytes = file_->size();
  ++stats_.compactions;
  return fs_->sync_dir(dir_);
}

// ---- reads ----------------------------------------------------------------------------------

DeviceActivity DeviceActivityLog::collect(const Entry& e, int64_t since_ms) {
  DeviceActivity a;
  // Only the kHours hours up to the newest one are kept (older slots may linger unused).
  const int64_t since_hour = std::max(floor_div(since_ms, kHourMs), e.newest_hour - (kHours - 1));
  for (const Bucket& b : e.hours) {
    if (b.hour < since_hour) continue;
    a.totals.messages += b.totals.messages;
    a.totals.bytes += b.totals.bytes;
    a.totals.rejected += b.totals.rejected;
  }
  a.totals_since_ms = since_ms;
  if (e.newest_hour >= 0)
    a.totals_since_ms = std::max(since_ms, (e.newest_hour - (kHours - 1)) * kHourMs);
  for (size_t i = 0; i < e.response.size(); ++i) {  // oldest first, like the battery
    const auto& [at, ms] = e.response[(e.response_next + i) % e.response.size()];
    if (at >= since_ms) a.response_ms.push_back(ms);
  }
  for (size_t i = 0; i < e.battery.size(); ++i) {
    const BatterySample& s = e.battery[(e.battery_next + i) % e.battery.size()];
    if (s.at_ms >= since_ms) a.battery.push_back(s);
  }
  return a;
}

DeviceActivity DeviceActivityLog::activity(const std::string& device, int64_t since_ms) const {
  std::lock_guard lock(mu_);
  auto it = devices_.find(device);
  if (it == devices_.end()) {
    DeviceActivity a;
    a.totals_since_ms = since_ms;
    return a;
  }
  return collect(it->second, since_ms);
}

Result<ActivityJournalCheck> check_activity_journal(FileSystem& fs, const std::string& dir) {
  ActivityJournalCheck c;
  const std::string path = join_path(dir, kJournalName);
  if (auto q = fs.list_dir(join_path(dir, "quarantine")); q.ok()) c.quarantined_files = q->size();
  if (!fs.exists(path)) return c;
  c.present = true;
  FP_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> mapped, fs.map_file(path));
  const std::string_view bytes = mapped->bytes();
  if (bytes.size() < kActivityJournalHeader.size() ||
      bytes.substr(0, kActivityJournalHeader.size()) != kActivityJournalHeader) {
    c.readable = bytes.empty();
    return c;
  }
  const std::string_view data = bytes.substr(kActivityJournalHeader.size());
  size_t pos = 0;
  for (;;) {
    const ActivityDecodeResult r =
        decode_activity_records(data.substr(pos), [](const ActivityRecord&) {});
    pos += r.valid_bytes;
    c.records += r.records;
    if (r.clean) break;
    const size_t next = next_valid_record(data, pos + 1);
    if (next == std::string_view::npos) {
      c.torn_tail_bytes = data.size() - pos;
      break;
    }
    c.damaged_bytes += next - pos;
    ++c.damaged_stretches;
    pos = next;
  }
  return c;
}

size_t DeviceActivityLog::acknowledge_damage() {
  return damage_unacknowledged_.exchange(false) ? 1 : 0;
}

ActivityJournalStats DeviceActivityLog::journal_damage() const {
  ActivityJournalStats d;
  d.damaged_bytes = damage_.damaged_bytes;
  d.damaged_stretches = damage_.damaged_stretches;
  d.quarantined = damage_.quarantined;
  d.replayed = damage_.replayed;
  d.dropped_bytes = damage_.dropped_bytes;
  d.damage_unacknowledged = damage_unacknowledged_.load();
  return d;
}

ActivityJournalStats DeviceActivityLog::journal_stats() const {
  std::lock_guard lock(mu_);
  ActivityJournalStats s = stats_;
  s.damage_unacknowledged = damage_unacknowledged_.load();
  return s;
}

}  // namespace fp
