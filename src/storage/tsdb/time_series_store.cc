#include "storage/tsdb/time_series_store.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <climits>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>

#include "storage/codec/chunk_encoder.h"
#include "storage/tsdb/batch_record.h"
#include "storage/tsdb/compaction.h"
#include "storage/tsdb/replay_applier.h"
#include "storage/wal/wal_format.h"
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

int64_t floor_to(int64_t ts, int64_t width) {
  int64_t q = ts / width;
  if (ts % width < 0) --q;
  return q * width;
}

// A Status message without file-system paths (they must not reach HTTP answers): every
// "/abs/path: " prefix, and any remaining absolute path, is cut down to its file name.
std::string public_message(const Status& s) {
  std::string m(s.message());
  for (size_t at = 0; (at = m.find('/', at)) != std::string::npos;) {
    if (at > 0 && m[at - 1] != ' ' && m[at - 1] != '(' && m[at - 1] != '\'') {
      ++at;
      continue;
    }
    size_t end = at;
    while (end < m.size() && m[end] != ' ' && m[end] != ':' && m[end] != '\'' && m[end] != ',')
      ++end;
    const size_t slash = m.rfind('/', end - 1);
    m.erase(at, slash + 1 - at);
  }
  return m;
}

// True when the WAL in `dir` still has its very first segment (it was never cut).
bool wal_starts_at_first_lsn(FileSystem& fs, const std::string& dir) {
  auto names = fs.list_dir(dir);
  if (!names.ok()) return false;
  return std::any_of(names->begin(), names->end(), [](const std::string& n) {
    return wal::parse_segment_file_name(n) == std::optional<uint64_t>(1);
  });
}

// The same Status with public_message(); the full one goes to the log.
Status without_paths(Status s, std::string_view event) {
  if (s.ok()) return s;
  std::string m = public_message(s);
  if (m != s.message()) spdlog::warn("event={} error=\"{}\"", event, s.message());
  return Status(s.code(), std::move(m));
}

}  // namespace

TimeSeriesStore::TimeSeriesStore(FileSystem& fs, StoreOptions options)
    : fs_(fs),
      options_(std::move(options)),
      clock_(options_.clock ? *options_.clock : SystemClock::instance()),
      quarantine_(fs, join_path(options_.dir, "quarantine")) {}

TimeSeriesStore::~TimeSeriesStore() {
  {
    std::lock_guard lock(thread_mu_);
    stop_ = true;
  }
  thread_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto* list : {&flush_waiters_, &flush_requests_})
    for (auto& done : *list) done(Status::Unavailable("the store is closing"));
  if (wal_) (void)wal_->close();
}

std::string TimeSeriesStore::blocks_dir() const {
  return join_path(options_.dir, "blocks");
}

Result<std::unique_ptr<TimeSeriesStore>> TimeSeriesStore::open(
    FileSystem& fs, StoreOptions options, const ReplayListener& on_replay, RecoveryReport* report,
    const ReplayRemovalListener& on_removal, const ReplaySeenListener& on_seen) {
  const auto started = std::chrono::steady_clock::now();
  FP_RETURN_IF_ERROR(fs.create_dir(options.dir));
  // CHECKPOINT.tmp, TOMBSTONES.tmp: a replacement a crash interrupted (the file it was to
  // replace is intact; blocks/*.tmp are removed by load_blocks).
  if (auto names = fs.list_dir(options.dir); names.ok())
    for (const std::string& name : *names)
      if (name.ends_with(".tmp")) (void)fs.remove_file(join_path(options.dir, name));
  std::unique_ptr<TimeSeriesStore> store(new TimeSeriesStore(fs, options));
  const std::string wal_dir = join_path(options.dir, "wal");
  RecoveryReport local;
  RecoveryReport& rep = report ? *report : local;
  rep = RecoveryReport{};

  if (Status s = store->quarantine_.load(); !s.ok())
    spdlog::error("event=quarantine_unreadable error=\"{}\"", s.message());
  auto damaged = [&](std::string line) {
    spdlog::error("event=storage_damage detail=\"{}\"", line);
    rep.damage.push_back(std::move(line));
  };
  // Metadata: a damaged file goes to quarantine and is rebuilt from what the blocks say.
  const bool cp_present = fs.exists(join_path(options.dir, "CHECKPOINT"));
  Checkpoint cp;
  bool cp_rebuild = false;
  if (auto r = read_checkpoint(fs, options.dir); r.ok()) {
    cp = *r;
  } else if (r.status().code() == StatusCode::kCorruption) {
    std::string what =
        "CHECKPOINT unreadable (checksum or size wrong); rebuilt from the blocks, the WAL "
        "replayed from its start";
    FP_RETURN_IF_ERROR(store->quarantine_.move_in(join_path(options.dir, "CHECKPOINT"), what));
    damaged(what);
    cp_rebuild = true;
  } else {
    return r.status();
  }
  if (auto t = read_tombstones(fs, options.dir); t.ok()) {
    store->tombstones_ = std::move(*t);
  } else if (t.status().code() == StatusCode::kCorruption) {
    std::string what =
        "TOMBSTONES unreadable; moved to quarantine (data of devices deleted before it may show "
        "again)";
    FP_RETURN_IF_ERROR(store->quarantine_.move_in(join_path(options.dir, "TOMBSTONES"), what));
    damaged(what);
  } else {
    return t.status();
  }
  FP_ASSIGN_OR_RETURN(const uint64_t max_seq, store->load_blocks(rep));
  // Blocks describe themselves: with the checkpoint gone, replaying the whole WAL over them is
  // safe (equal (series, ts) overwrite). Only blocks of a single first flush may exist without
  // a checkpoint in normal operation (a crash before it was written), and then the WAL was
  // never cut: it still starts at LSN 1.
  if (!cp_present && !cp_rebuild && max_seq > 0 &&
      (max_seq > 1 || !wal_starts_at_first_lsn(fs, wal_dir))) {
    std::string what = "CHECKPOINT missing with " + std::to_string(rep.blocks) +
                       " blocks on disk; rebuilt from the blocks, the WAL replayed from its start";
    FP_RETURN_IF_ERROR(store->quarantine_.note("CHECKPOINT", what));
    damaged(what);
    cp_rebuild = true;
  }
  if (cp_rebuild || (!cp_present && max_seq > 0)) {
    cp = Checkpoint{1, max_seq};
    FP_RETURN_IF_ERROR(write_checkpoint(fs, options.dir, cp));
  }
  store->next_seq_ = std::max(cp.seq, max_seq) + 1;

  const std::string quarantine_dir = join_path(options.dir, "quarantine");
  FP_RETURN_IF_ERROR(fs.create_dir(quarantine_dir));
  ReplayApplier applier(store->index_, store->head_);
  auto recovered = recover_wal(
      fs, wal_dir, cp.lsn,
      [&](uint64_t, std::string_view payload) {
        store->apply_record(payload, applier, on_replay ? &on_replay : nullptr,
                            on_removal ? &on_removal : nullptr, &rep);
        ++rep.records;
        return Status::Ok();
      },
      quarantine_dir,
      // Records the checkpoint covers are still on disk until the commit thread has saved the
      // last-seen times derived from them (maintain() cuts only then): a crash in between
      // must not lose those, so they feed last-seen times (in order with removals) only.
      [&](uint64_t, std::string_view payload) {
        if (payload.empty()) return;
        const auto type = static_cast<RecordType>(payload[0]);
        payload.remove_prefix(1);
        if (type == RecordType::kBatch && payload.size() >= 8) {
          int64_t received;
          std::memcpy(&received, payload.data(), 8);
          (void)applier.add_seen_only(payload.substr(8), received);
        } else if (type == RecordType::kDeleteDevice || type == RecordType::kForgetDevice) {
          applier.before_removal(payload, /*keep_ids=*/true);
        } else if (type == RecordType::kDeleteAll) {
          applier.before_remove_all();
        }
      });
  if (!recovered.ok()) return recovered.status();
  applier.flush();
  if (on_seen) applier.for_each_seen(on_seen);
  if (recovered->cut) {
    rep.truncated_bytes = recovered->cut->bytes_dropped;
    rep.truncation = describe(*recovered->cut);
  }
  // Damage in the middle of the log: the segment stays in use and a copy goes to quarantine.
  std::map<std::string, std::pair<std::string, bool>> by_segment;  // what, moved
  for (const WalDamage& d : recovered->damage) {
    if (d.before_checkpoint) {
      spdlog::info("event=wal_damage_covered detail=\"{}\"", describe(d));
      continue;
    }
    auto& [what, moved] = by_segment[d.segment];
    what += (what.empty() ? "" : "; ") + describe(d);
    moved = moved || d.moved;
  }
  for (auto& [segment, entry] : by_segment) {
    auto& [what, moved] = entry;
    what += "; the series and times of the lost records are unknown";
    Status s = moved ? store->quarantine_.note(segment, what, {LostRange{}})
                     : store->quarantine_.copy_in(join_path(wal_dir, segment), what, {LostRange{}});
    if (!s.ok()) return s;
    damaged(what);
  }
  rep.wal_records_skipped = recovered->records_skipped;
  store->wal_records_skipped_ = recovered->records_skipped;
  uint64_t next_lsn = recovered->next_lsn;
  if (next_lsn < cp.lsn) {
    // The WAL lost records the blocks already hold (a cut tail): start it afresh after the
    // checkpoint so LSNs never run backwards.
    if (auto names = fs.list_dir(wal_dir); names.ok())
      for (const auto& n : *names) (void)fs.remove_file(join_path(wal_dir, n));
    (void)fs.sync_dir(wal_dir);
    next_lsn = cp.lsn;
  }
  WalOptions wo;
  wo.dir = wal_dir;
  wo.fsync = options.fsync;
  wo.clock = options.clock;
  auto writer = WalWriter::open(fs, wo, next_lsn);
  if (!writer.ok()) return writer.status();
  store->wal_ = std::move(*writer);
  store->checkpoint_lsn_ = cp.lsn;
  if (store->head_.points() > 0) store->head_first_ms_ = store->clock_.now_ms();
  if (options.background) store->thread_ = std::thread([s = store.get()] { s->block_thread(); });
  rep.millis = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - started)
                   .count();
  return store;
}

Result<uint64_t> TimeSeriesStore::load_blocks(RecoveryReport& rep) {
  const std::string dir = blocks_dir();
  FP_RETURN_IF_ERROR(fs_.create_dir(dir));
  FP_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_.list_dir(dir));
  std::sort(names.begin(), names.end());
  std::vector<std::pair<std::unique_ptr<block::BlockReader>, std::string>> readers;
  std::vector<std::pair<std::string, block::BlockSalvage>> damaged;
  std::set<uint64_t> superseded;
  uint64_t max_id = 0, max_seq = 0;
  auto remove = [&](const std::string& path) {
    if (fs_.remove_file(path).ok()) ++rep.blocks_removed;
  };
  const auto all_tomb = tombstones_.find("");
  for (const std::string& name : names) {
    const std::string path = join_path(dir, name);
    if (name.ends_with(".tmp")) {
      remove(path);  // an unfinished write: its data is still in the WAL or its inputs
      continue;
    }
    if (!name.ends_with(".blk")) continue;
    if (uint64_t id = std::strtoull(name.c_str(), nullptr, 10); id > max_id) max_id = id;
    auto file = fs_.map_file(path);
    if (!file.ok()) {
      // Not damage we can see (an I/O error): leave the file where it is.
      spdlog::error("event=block_unreadable block={} error=\"{}\"", name, file.status().message());
      rep.block_errors += (rep.block_errors.empty() ? "" : "; ") + name + ": I/O error";
      continue;
    }
    // Every checksum of the block is verified once here; reads verify their chunk again.
    block::BlockSalvage salvage = block::salvage_block(*file, options_.partition_ms);
    if (!salvage.whole()) {
      damaged.emplace_back(path, std::move(salvage));
      continue;
    }
    const block::BlockMeta& m = salvage.reader->meta();
    max_id = std::max(max_id, m.id);
    max_seq = std::max(max_seq, m.seq);
    if (all_tomb != tombstones_.end() && m.seq < all_tomb->second) {
      remove(path);  // everything in it was deleted (a delete-all) before a compaction ran
      continue;
    }
    superseded.insert(m.replaces.begin(), m.replaces.end());
    readers.emplace_back(std::move(salvage.reader), path);
  }
  next_block_id_ = max_id + 1;
  for (auto& [path, salvage] : damaged) {
    const bool covered = salvage.reader && superseded.count(salvage.reader->meta().id);
    if (salvage.reader) max_seq = std::max(max_seq, salvage.meta.seq);
    FP_RETURN_IF_ERROR(quarantine_block(path, salvage, covered, readers, rep));
  }
  BlockList blocks;
  for (auto& [reader, path] : readers) {
    if (superseded.count(reader->meta().id)) {
      // A verified block names this one as its input: it is a copy, so it may go.
      remove(path);
      continue;
    }
    auto b = make_loaded_block(std::move(reader), path, index_, tombstones_, true);
    if (b->is_raw()) {
      for (const auto& [id, i] : b->by_series) {
        const block::Entry& e = b->reader->entries()[i];
        head_.note_latest(id, e.max_ts, e.last_value);
      }
    }
    blocks.push_back(std::move(b));
  }
  if (rep.blocks_removed) (void)fs_.sync_dir(dir);
  rep.blocks = blocks.size();
  std::unique_lock lock(state_mu_);
  blocks_ = std::move(blocks);
  publish_locked();
  return max_seq;
}

Status TimeSeriesStore::quarantine_block(
    const std::string& path, const block::BlockSalvage& s, bool superseded,
    std::vector<std::pair<std::unique_ptr<block::BlockReader>, std::string>>& out,
    RecoveryReport& rep) {
  const std::string name = path.substr(path.find_last_of('/') + 1);
  std::string what = "block " + name + ": " + s.problem;
  std::vector<LostRange> lost;
  static const std::vector<block::Entry> kNone;
  const auto& entries = s.reader ? s.reader->entries() : kNone;
  bool resealed = false;
  std::vector<uint32_t> unreadable;  // verified entries whose payload still does not decode
  if (superseded) {
    // A verified block names it as replaced (a compaction output, or its own re-sealed copy
    // from a start that crashed before the move below): that block holds what is readable.
    what += "; its readable entries are in a newer verified block";
  } else if (s.reader && s.range_known && !s.good.empty()) {
    // Re-seal the readable entries into a new block that names this one as replaced, so a
    // crash before the move below leaves a pair the next start resolves the same way.
    block::BlockMeta meta = s.meta;
    meta.id = next_block_id();
    meta.replaces = {s.reader->meta().id};
    const std::string new_name = block_file_name(meta.id);
    auto w = block::BlockWriter::create(fs_, blocks_dir(), new_name, meta);
    Status st = w.ok() ? Status::Ok() : w.status();
    for (uint32_t i : s.good) {
      if (!st.ok()) break;
      const block::Entry& e = entries[i];
      auto payload = s.reader->payload(e);
      if (!payload.ok()) {  // intact bytes that do not decompress: lost all the same
        unreadable.push_back(i);
        continue;
      }
      st = (*w)->add({e.device, e.metric, e.min_ts, e.max_ts, e.last_value, e.count}, *payload);
    }
    if (st.ok()) st = w.ok() ? (*w)->finish().status() : st;
    if (st.ok()) {
      auto reader = block::BlockReader::open(fs_, join_path(blocks_dir(), new_name));
      st = reader.ok() ? Status::Ok() : reader.status();
      if (st.ok()) out.emplace_back(std::move(*reader), join_path(blocks_dir(), new_name));
    }
    if (!st.ok()) return st;  // e.g. a full disk: refuse to start rather than lose readings
    resealed = true;
    what += "; " + std::to_string(s.good.size() - unreadable.size()) + " of " +
            std::to_string(entries.size()) + " series re-sealed into " + new_name;
  }
  {
    if (s.reader) {
      for (uint32_t i : s.lost)
        lost.push_back({std::string(entries[i].device), std::string(entries[i].metric),
                        entries[i].min_ts, entries[i].max_ts});
      for (uint32_t i : unreadable)
        lost.push_back({std::string(entries[i].device), std::string(entries[i].metric),
                        entries[i].min_ts, entries[i].max_ts});
      if (!resealed && !superseded)
        for (uint32_t i : s.good)
          lost.push_back({std::string(entries[i].device), std::string(entries[i].metric),
                          entries[i].min_ts, entries[i].max_ts});
      if (!lost.empty()) what += "; " + std::to_string(lost.size()) + " series lost";
    } else if (s.range_known) {
      lost.push_back(
          {"", "", s.meta.partition_start, s.meta.partition_start + s.meta.partition_ms - 1});
      what += "; the readings of every series in the partition starting " +
              std::to_string(s.meta.partition_start) + " are lost";
    } else {
      lost.push_back({});
      what += "; its series and time range are unknown";
    }
  }
  FP_RETURN_IF_ERROR(quarantine_.move_in(path, what, std::move(lost)));
  spdlog::error("event=block_quarantined detail=\"{}\"", what);
  rep.block_errors += (rep.block_errors.empty() ? "" : "; ") + what;
  rep.damage.push_back(what);
  ++rep.blocks_quarantined;
  std::lock_guard lock(stats_mu_);
  ++stats_.damaged;
  return Status::Ok();
}

void TimeSeriesStore::publish_locked() {
  sort_blocks(blocks_);
  std::lock_guard s(stats_mu_);
  stats_.blocks = blocks_.size();
  stats_.bytes = 0;
  stats_.raw_points = 0;
  for (const auto& b : blocks_) {
    stats_.bytes += b->reader->file_bytes();
    if (b->is_raw())
      for (const auto& e : b->reader->entries()) stats_.raw_points += e.count;
  }
}

void TimeSeriesStore::apply_record(std::string_view payload, ReplayApplier& applier,
                                   const ReplayListener* on_replay,
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
      size_t points = 0;
      Status s = applier.add_batch(payload.substr(8), received, &points);
      if (!s.ok()) {
        // The WAL checksum passed, so this is a bug or a format change, not a torn write.
        spdlog::error("event=wal_record_unreadable error=\"{}\"", s.message());
        break;
      }
      if (report) report->points += points;
      if (on_replay && *on_replay) {
        ReadingBatch batch;
        if (decode_batch_record(payload.substr(8), batch).ok()) (*on_replay)(batch, received);
      }
      break;
    }
    case RecordType::kDeleteDevice:
      applier.before_removal(payload);
      apply_delete_device(std::string(payload));
      if (on_removal) (*on_removal)(std::string(payload));
      break;
    case RecordType::kForgetDevice:
      applier.before_removal(payload, /*keep_ids=*/true);
      if (on_removal) (*on_removal)(std::string(payload));
      break;
    case RecordType::kDeleteAll:
      applier.before_remove_all();
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
  // Without attributes: the catalog keeps them (batch_record.h).
  encode_batch_record(batch, scratch_, /*with_attributes=*/false);
  auto lsn = wal_->append(scratch_);
  return lsn.ok() ? Status::Ok() : without_paths(lsn.status(), "wal_append_failed");
}

Status TimeSeriesStore::log_delete_device(const std::string& device) {
  scratch_.clear();
  scratch_.push_back(static_cast<char>(RecordType::kDeleteDevice));
  scratch_ += device;
  auto lsn = wal_->append(scratch_);
  return lsn.ok() ? Status::Ok() : without_paths(lsn.status(), "wal_append_failed");
}

Status TimeSeriesStore::log_forget_device(const std::string& device) {
  scratch_.clear();
  scratch_.push_back(static_cast<char>(RecordType::kForgetDevice));
  scratch_ += device;
  auto lsn = wal_->append(scratch_);
  return lsn.ok() ? Status::Ok() : without_paths(lsn.status(), "wal_append_failed");
}

Status TimeSeriesStore::log_delete_all() {
  scratch_.assign(1, static_cast<char>(RecordType::kDeleteAll));
  auto lsn = wal_->append(scratch_);
  return lsn.ok() ? Status::Ok() : without_paths(lsn.status(), "wal_append_failed");
}

Status TimeSeriesStore::commit() {
  Status s = without_paths(wal_->commit(), "wal_commit_failed");
  if (s.ok() != last_commit_error_.empty()) {
    std::lock_guard lock(stats_mu_);
    last_commit_error_ = s.ok() ? "" : "the last WAL commit failed: " + public_message(s);
  }
  return s;
}

void TimeSeriesStore::apply(const ReadingBatch& batch) {
  if (head_first_ms_ == 0 && !batch.points().empty()) head_first_ms_ = clock_.now_ms();
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

std::vector<SeriesId> TimeSeriesStore::find_series(const ReadingBatch& batch) const {
  const auto& points = batch.points();
  std::vector<SeriesId> ids(points.size(), kNoSeries);
  // Distinct pairs in order of first appearance (a dense table when devices x metrics is
  // small, as in apply()), then one pass over the index under one shared lock.
  const size_t n_metrics = batch.metrics().size();
  const size_t cells = batch.devices().size() * n_metrics;
  std::vector<uint64_t> pairs;
  std::vector<uint32_t> slot(points.size());
  if (cells <= 4 * points.size() + 1024) {
    std::vector<uint32_t> cell(cells, UINT32_MAX);
    for (size_t i = 0; i < points.size(); ++i) {
      uint32_t& c = cell[static_cast<size_t>(points[i].device) * n_metrics + points[i].metric];
      if (c == UINT32_MAX) {
        c = static_cast<uint32_t>(pairs.size());
        pairs.push_back((uint64_t{points[i].device} << 32) | points[i].metric);
      }
      slot[i] = c;
    }
  } else {
    std::unordered_map<uint64_t, uint32_t> seen;
    for (size_t i = 0; i < points.size(); ++i) {
      const uint64_t key = (uint64_t{points[i].device} << 32) | points[i].metric;
      auto [it, inserted] = seen.try_emplace(key, static_cast<uint32_t>(pairs.size()));
      if (inserted) pairs.push_back(key);
      slot[i] = it->second;
    }
  }
  std::vector<SeriesId> found(pairs.size());
  index_.find_pairs(batch.devices(), batch.metrics(), pairs, found.data());
  for (size_t i = 0; i < points.size(); ++i) ids[i] = found[slot[i]];
  return ids;
}

void TimeSeriesStore::apply(const ReadingBatch& batch, std::span<const SeriesId> ids) {
  if (ids.size() != batch.points().size()) return apply(batch);
  if (head_first_ms_ == 0 && !batch.points().empty()) head_first_ms_ = clock_.now_ms();
  const auto& points = batch.points();
  for (size_t i = 0; i < points.size(); ++i) {
    const Point& p = points[i];
    const SeriesId id = ids[i] != kNoSeries ? ids[i]
                                            : index_.get_or_create(batch.devices()[p.device],
                                                                   batch.metrics()[p.metric]);
    head_.append(id, p.ts_ms, p.value);
  }
}

void TimeSeriesStore::apply_delete_device(const std::string& device) {
  Tombstones copy;
  {
    std::unique_lock lock(state_mu_);
    for (SeriesId id : index_.remove_device(device)) head_.drop(id);
    removal_generation_.fetch_add(1, std::memory_order_release);
    if (blocks_.empty() && !frozen_) return;  // nothing older than the WAL to hide
    tombstones_[device] = next_seq_;
    copy = tombstones_;
  }
  save_tombstones(copy);
}

void TimeSeriesStore::apply_delete_all() {
  Tombstones copy;
  {
    std::unique_lock lock(state_mu_);
    for (const auto& d : index_.devices())
      for (SeriesId id : index_.remove_device(d)) head_.drop(id);
    removal_generation_.fetch_add(1, std::memory_order_release);
    if (blocks_.empty() && !frozen_) return;
    tombstones_.clear();
    tombstones_[""] = next_seq_;
    copy = tombstones_;
  }
  save_tombstones(copy);
}

void TimeSeriesStore::save_tombstones(const Tombstones& t) {
  // Outside state_mu_ (readers never wait for this fsync); only the commit thread writes the
  // file, and it cuts the WAL (which still holds the deletion) only after this returned.
  tombstones_unsaved_ = false;
  if (Status s = write_tombstones(fs_, options_.dir, t); !s.ok()) {
    // The WAL keeps the deletion until the file is written (maintain() retries first).
    tombstones_unsaved_ = true;
    spdlog::error("event=tombstone_write_failed error=\"{}\"", s.message());
  }
}

void TimeSeriesStore::maintain() {
  (void)wal_->sync_if_due();
  if (tombstones_unsaved_) {
    Tombstones copy;
    {
      std::shared_lock lock(state_mu_);
      copy = tombstones_;
    }
    save_tombstones(copy);
  }
  // Segments roll after a freeze; once a checkpoint covers the older ones, they go.
  // Only up to the checkpoint the caller saw with wal_cut_pending(): one the block thread
  // wrote since may cover records whose derived state is not saved yet.
  const uint64_t cp = cut_to_lsn_;
  maintained_checkpoint_lsn_ = cp;
  if (tombstones_unsaved_) return;
  if (cp > 1 && cp == wal_->next_lsn() && cp != rolled_at_lsn_) {
    // Everything is in blocks: a fresh segment lets the last one go as well.
    rolled_at_lsn_ = cp;
    if (Status s = wal_->start_new_segment(); !s.ok())
      spdlog::warn("event=wal_roll_failed error=\"{}\"", s.message());
  }
  if (cp > 1 && wal_->stats().segments > 1) {
    if (Status s = wal_->truncate_before(cp); !s.ok())
      spdlog::warn("event=wal_truncate_failed error=\"{}\"", s.message());
  }
  if (!options_.background) return;
  if (head_.points() == 0) {
    for (auto& done : flush_requests_) done(Status::Ok());  // nothing unsealed
    flush_requests_.clear();
    return;
  }
  const bool due = !flush_requests_.empty() || head_.points() >= options_.flush_points ||
                   clock_.now_ms() - head_first_ms_ >= options_.flush_interval_ms;
  if (!due) return;
  {
    std::shared_lock lock(state_mu_);
    if (frozen_) return;  // the previous flush is still being written
  }
  freeze();
  {
    std::lock_guard lock(thread_mu_);
    flush_wanted_ = true;
    for (auto& done : flush_requests_) flush_waiters_.push_back(std::move(done));
  }
  flush_requests_.clear();
  thread_cv_.notify_all();
}

void TimeSeriesStore::request_flush(std::function<void(Status)> done) {
  flush_requests_.push_back(std::move(done));
}

void TimeSeriesStore::freeze() {
  auto f = std::make_shared<Frozen>();
  f->seq = next_seq_++;
  f->lsn = wal_->next_lsn();
  wal_->roll_on_next_commit();  // so the checkpoint can remove the current segment whole
  std::unique_lock lock(state_mu_);
  f->series = head_.take_all_points();
  for (const auto& p : f->series)
    if (p) f->points += p->size();
  frozen_points_ = f->points;
  frozen_ = std::move(f);
  head_first_ms_ = 0;
}

Status TimeSeriesStore::write_frozen() {
  std::lock_guard work(block_work_mu_);
  std::shared_ptr<const Frozen> f;
  {
    std::shared_lock lock(state_mu_);
    f = frozen_;
  }
  if (!f) return Status::Ok();
  // The series of every partition they have points in (decoded once here, and once more per
  // partition while written, so the frozen layer is never held decoded whole).
  std::map<int64_t, std::vector<SeriesId>> partitions;
  const int64_t pms = options_.partition_ms;
  for (SeriesId id = 0; id < f->series.size(); ++id) {
    const SeriesPoints* p = f->of(id);
    if (!p) continue;
    bool first = true;
    int64_t current = 0;
    p->scan(INT64_MIN, INT64_MAX, [&](const Sample& s) {
      const int64_t start = floor_to(s.ts, pms);
      if (!first && start == current) return;
      first = false;
      current = start;
      partitions[start].push_back(id);
    });
  }
  std::vector<std::pair<std::unique_ptr<block::BlockReader>, std::string>> written;
  auto discard = [&](Status s) {
    for (const auto& w : written) (void)fs_.remove_file(w.second);
    return s;
  };
  codec::ChunkEncoder enc;
  for (const auto& [start, ids] : partitions) {
    block::BlockMeta meta;
    meta.id = next_block_id();
    meta.seq = f->seq;
    meta.partition_start = start;
    meta.partition_ms = pms;
    const std::string name = block_file_name(meta.id);
    auto w = block::BlockWriter::create(fs_, blocks_dir(), name, meta);
    if (!w.ok()) return discard(w.status());
    for (const SeriesId id : ids) {
      const SeriesKey key = index_.key(id);
      if (key.device.empty()) continue;
      enc.clear();
      Sample first{}, last{};
      const int64_t last_ms = start > INT64_MAX - (pms - 1) ? INT64_MAX : start + (pms - 1);
      f->of(id)->scan(start, last_ms, [&](const Sample& s) {
        if (enc.count() == 0) first = s;
        last = s;
        enc.append(s.ts, s.value);
      });
      block::EntryInfo info{key.device, key.metric, first.ts,
                            last.ts,    last.value, static_cast<uint32_t>(enc.count())};
      if (Status s = (*w)->add(info, enc.finish()); !s.ok()) return discard(s);
    }
    if (auto done = (*w)->finish(); !done.ok()) return discard(done.status());
    const std::string path = join_path(blocks_dir(), name);
    auto reader = block::BlockReader::open(fs_, path);
    if (!reader.ok()) return discard(reader.status());
    written.emplace_back(std::move(*reader), path);
  }
  if (Status s = write_checkpoint(fs_, options_.dir, {f->lsn, f->seq}); !s.ok()) return discard(s);
  {
    std::unique_lock lock(state_mu_);
    for (auto& [reader, path] : written)
      blocks_.push_back(make_loaded_block(std::move(reader), path, index_, tombstones_, false));
    frozen_.reset();
    frozen_points_ = 0;
    publish_locked();
  }
  checkpoint_lsn_ = f->lsn;
  std::lock_guard s(stats_mu_);
  ++stats_.flushes;
  return Status::Ok();
}

Status TimeSeriesStore::replace_blocks(const std::vector<uint64_t>& ids,
                                       std::vector<WrittenBlock> added) {
  if (ids.empty() && added.empty()) return Status::Ok();
  std::vector<std::string> paths;
  {
    std::unique_lock lock(state_mu_);
    std::erase_if(blocks_, [&](const auto& b) {
      if (std::find(ids.begin(), ids.end(), b->meta().id) == ids.end()) return false;
      paths.push_back(b->path);
      return true;
    });
    for (auto& [reader, path] : added)
      blocks_.push_back(make_loaded_block(std::move(reader), path, index_, tombstones_, false));
    publish_locked();
  }
  // Readers that still hold a removed block keep its mapping; unlinking is safe.
  for (const auto& p : paths) FP_RETURN_IF_ERROR(fs_.remove_file(p));
  return fs_.sync_dir(blocks_dir());
}

Status TimeSeriesStore::compact_and_expire() {
  std::lock_guard work(block_work_mu_);
  const int64_t now = clock_.now_ms();
  auto snapshot = [this] {
    std::shared_lock lock(state_mu_);
    return std::pair(blocks_, tombstones_);
  };
  // 1. Everything before a delete-all goes.
  auto [blocks, tombstones] = snapshot();
  std::vector<uint64_t> doomed;
  if (const auto all = tombstones.find(""); all != tombstones.end())
    for (const auto& b : blocks)
      if (b->meta().seq < all->second) doomed.push_back(b->meta().id);
  FP_RETURN_IF_ERROR(replace_blocks(doomed, {}));

  // 2. Sealed partitions are compacted (before retention, so rollups exist before raw goes).
  std::tie(blocks, tombstones) = snapshot();
  std::map<int64_t, BlockList> by_partition;
  for (const auto& b : blocks) by_partition[b->meta().partition_start].push_back(b);
  for (auto& [start, part] : by_partition) {
    {
      std::lock_guard lock(thread_mu_);
      if (stop_) return Status::Ok();
    }
    const int64_t end = part.front()->partition_end();
    if (end + options_.seal_after_ms > now) continue;
    const bool raw_expiring =
        options_.retention_raw_ms > 0 && end <= now - options_.retention_raw_ms;
    // Rollups are rebuilt from raw data only while the raw data they were built from is
    // there: once it expired, late raw blocks of the day just expire too.
    uint64_t rollup_seq = 0;
    bool has_rollups = false, base_raw = false;
    for (const auto& b : part)
      if (!b->is_raw()) has_rollups = true, rollup_seq = std::max(rollup_seq, b->meta().seq);
    for (const auto& b : part)
      if (b->is_raw() && b->meta().seq <= rollup_seq) base_raw = true;
    if (has_rollups && !base_raw) continue;
    // Before raw data expires, its rollups must cover every series (a day compacted while no
    // retention was set has them only where they paid).
    if (!needs_compaction(part) && !(raw_expiring && !rollups_complete(part))) continue;
    FP_ASSIGN_OR_RETURN(CompactionResult r,
                        compact_partition(
                            fs_, blocks_dir(), part, tombstones, [this] { return next_block_id(); },
                            options_.retention_raw_ms > 0));
    FP_RETURN_IF_ERROR(replace_blocks(r.replaced, std::move(r.written)));
    std::lock_guard s(stats_mu_);
    ++stats_.compactions;
  }

  // 3. Retention: whole blocks whose partition ended longer ago than their resolution keeps.
  std::tie(blocks, tombstones) = snapshot();
  doomed.clear();
  for (const auto& b : blocks) {
    const auto& m = b->meta();
    const int64_t keep = m.resolution == block::Resolution::kRaw      ? options_.retention_raw_ms
                         : m.resolution == block::Resolution::kMinute ? options_.retention_minute_ms
                                                                      : options_.retention_hour_ms;
    // Raw data leaves only once its partition has rollups (compaction above made them).
    if (keep > 0 && b->partition_end() <= now - keep &&
        (m.resolution != block::Resolution::kRaw ||
         b->partition_end() + options_.seal_after_ms <= now))
      doomed.push_back(m.id);
  }
  // 4. The block pages queries read since the last pass leave the process' RSS (they stay in
  // the page cache): resident block bytes are bounded by what is read between two passes.
  for (const auto& b : blocks) b->reader->release_resident();
  return replace_blocks(doomed, {});
}

void TimeSeriesStore::block_thread() {
  std::unique_lock lock(thread_mu_);
  while (!stop_) {
    thread_cv_.wait_for(lock, std::chrono::seconds(10), [this] { return stop_ || flush_wanted_; });
    if (stop_) return;
    // Take the request and its waiters together: the commit thread freezes again (and sets
    // the flag anew) only after this frozen layer is written.
    const bool flush = flush_wanted_;
    flush_wanted_ = false;
    std::vector<std::function<void(Status)>> waiters;
    waiters.swap(flush_waiters_);
    lock.unlock();
    Status s = flush ? write_frozen() : Status::Ok();
    for (auto& done : waiters) done(without_paths(s, "block_write_failed"));
    if (s.ok()) s = compact_and_expire();
    {
      std::lock_guard st(stats_mu_);
      last_block_error_ = s.ok() ? "" : "the last block write failed: " + public_message(s);
    }
    lock.lock();
    if (s.ok()) continue;
    if (flush && frozen_points_.load() > 0) flush_wanted_ = true;  // retry the frozen layer
    spdlog::error("event=block_write_failed error=\"{}\" retry_in=5s", s.message());
    {
      std::lock_guard st(stats_mu_);
      ++stats_.errors;
    }
    thread_cv_.wait_for(lock, std::chrono::seconds(5), [this] { return stop_; });
  }
}

Status TimeSeriesStore::flush_now() {
  if (head_.points() > 0 && !frozen_) freeze();
  FP_RETURN_IF_ERROR(write_frozen());
  (void)wal_cut_pending();
  maintain();
  return Status::Ok();
}

Status TimeSeriesStore::compact_now() {
  return compact_and_expire();
}

bool TimeSeriesStore::only_in_head(SeriesId id, int64_t start, int64_t end) const {
  if (frozen_ && frozen_->of(id)) return false;
  for (const auto& b : blocks_) {
    if (!b->is_raw() || b->partition_end() <= start || b->meta().partition_start > end) continue;
    if (const block::Entry* e = b->find(id); e && e->max_ts >= start && e->min_ts <= end)
      return false;
  }
  return true;
}

std::vector<Sample> TimeSeriesStore::collect(SeriesId id, int64_t start, int64_t end) const {
  std::vector<Sample> all;
  for (const auto& b : blocks_) {  // oldest first within a partition
    if (!b->is_raw() || b->partition_end() <= start || b->meta().partition_start > end) continue;
    if (const block::Entry* e = b->find(id)) {
      if (Status s = append_points(*b, *e, start, end, all); !s.ok()) note_read_failure(*b, *e, s);
    }
  }
  if (const SeriesPoints* p = frozen_ ? frozen_->of(id) : nullptr)
    p->scan(start, end, [&](const Sample& s) { all.push_back(s); });
  head_.scan(id, start, end, [&](const Sample& s) { all.push_back(s); });
  merge_newest_wins(all);
  return all;
}

void TimeSeriesStore::scan_for_aggregate(
    SeriesId id, int64_t start, int64_t end, int64_t width_ms,
    const std::function<void(const Sample&)>& on_sample,
    const std::function<void(const RollupBucket&)>& on_bucket) const {
  std::shared_lock lock(state_mu_);
  auto raw = [&](int64_t a, int64_t b) {
    if (a > b) return;
    if (only_in_head(id, a, b))
      head_.scan(id, a, b, on_sample);
    else
      for (const Sample& s : collect(id, a, b)) on_sample(s);
  };
  const auto res = width_ms > 0 && width_ms % 3'600'000 == 0 ? block::Resolution::kHour
                   : width_ms > 0 && width_ms % 60'000 == 0  ? block::Resolution::kMinute
                                                             : block::Resolution::kRaw;
  if (res == block::Resolution::kRaw) return raw(start, end);
  const int64_t rw = block::resolution_ms(res);
  int64_t t = start;
  for (const auto& b : blocks_) {
    if (b->meta().resolution != res) continue;
    const int64_t ps = b->meta().partition_start, pe = b->partition_end();
    // Whole buckets of this partition inside [t, end].
    const int64_t a = std::max(floor_to(std::max(t, ps) + rw - 1, rw), ps);
    const int64_t z =  // the last millisecond covered
        (end > INT64_MAX - rw ? pe : std::min(floor_to(end + 1, rw), pe)) - 1;
    if (a > z) continue;
    const block::Entry* e = b->find(id);
    if (!e) continue;
    // Usable only if no raw data newer than the rollup exists for this partition.
    bool fresh = true;
    for (const auto& o : blocks_)
      if (o->is_raw() && o->meta().partition_start == ps && o->meta().seq > b->meta().seq)
        fresh = false;
    if (const SeriesPoints* p = frozen_ ? frozen_->of(id) : nullptr)
      if (p->has_points(a, z)) fresh = false;
    if (!fresh || head_.has_points(id, a, z)) continue;
    auto payload = b->reader->payload(*e);
    auto buckets = payload.ok() ? decode_rollups(*payload)
                                : Result<std::vector<RollupBucket>>(payload.status());
    if (!buckets.ok()) {
      note_read_failure(*b, *e, buckets.status());
      continue;
    }
    raw(t, a - 1);
    for (const RollupBucket& r : *buckets)
      if (r.start >= a && r.start <= z) on_bucket(r);
    t = z + 1;
  }
  raw(t, end);
}

void TimeSeriesStore::note_read_failure(const LoadedBlock& b, const block::Entry& e,
                                        const Status& s) const {
  const std::string name = b.path.substr(b.path.find_last_of('/') + 1);
  std::lock_guard lock(stats_mu_);
  ++stats_.read_errors;
  for (const auto& f : read_failures_)
    if (f.block_id == b.meta().id && f.device == e.device && f.metric == e.metric) return;
  spdlog::error("event=block_read_failed block={} error=\"{}\"", name, s.message());
  read_failures_.push_back(
      {b.meta().id, std::string(e.device), std::string(e.metric), e.min_ts, e.max_ts,
       "block " + name + ": " + s.message() + " (re-sealed into quarantine at the next start)"});
  has_read_failures_.store(true, std::memory_order_release);
}

std::string TimeSeriesStore::missing_data(std::string_view device, std::string_view metric,
                                          int64_t start, int64_t end) const {
  // No unacknowledged damage with a lost range and no failed chunk read: nothing to look up.
  if (!quarantine_.may_have_lost() && !has_read_failures_.load(std::memory_order_acquire))
    return {};
  std::string out = quarantine_.lost_reason(device, metric, start, end);
  std::lock_guard lock(stats_mu_);
  for (const auto& f : read_failures_)
    if (f.device == device && f.metric == metric && f.min_ts <= end && f.max_ts >= start)
      out += (out.empty() ? "" : "; ") + f.what;
  return out;
}

StorageHealth TimeSeriesStore::health() const {
  StorageHealth h;
  h.damage = quarantine_.notes();
  h.damage_unacknowledged = quarantine_.unacknowledged();
  h.quarantined_files = quarantine_.files();
  h.wal_records_skipped = wal_records_skipped_;
  std::vector<std::string> reasons;
  {
    std::lock_guard lock(stats_mu_);
    if (!last_commit_error_.empty()) reasons.push_back(last_commit_error_);
    if (!last_block_error_.empty()) reasons.push_back(last_block_error_);
    for (const auto& f : read_failures_) reasons.push_back(f.what);
  }
  for (const DamageNote& n : h.damage)
    if (!n.acknowledged) reasons.push_back(n.what);
  if (h.damage_unacknowledged > 0)
    reasons.push_back("acknowledge with POST /api/v1/admin/storage/acknowledge-damage");
  h.degraded = !reasons.empty();
  for (const auto& r : reasons) h.reason += (h.reason.empty() ? "" : "; ") + r;
  return h;
}

Result<size_t> TimeSeriesStore::acknowledge_damage() {
  return quarantine_.acknowledge_all();
}

std::optional<std::pair<int64_t, int64_t>> TimeSeriesStore::time_span(SeriesId id) const {
  std::shared_lock lock(state_mu_);
  std::optional<std::pair<int64_t, int64_t>> span;
  auto widen = [&](int64_t lo, int64_t hi) {
    if (!span)
      span = {lo, hi};
    else
      span = {std::min(span->first, lo), std::max(span->second, hi)};
  };
  for (const auto& b : blocks_)
    if (b->is_raw())
      if (const block::Entry* e = b->find(id)) widen(e->min_ts, e->max_ts);
  if (const SeriesPoints* p = frozen_ ? frozen_->of(id) : nullptr)
    widen(*p->first_ts(), p->last_ts());
  if (auto first = head_.first_ts(id))
    if (auto last = head_.latest(id)) widen(*first, last->ts);
  return span;
}

uint64_t TimeSeriesStore::points() const {
  std::lock_guard s(stats_mu_);
  return head_.points() + frozen_points_.load() + stats_.raw_points;
}

uint64_t TimeSeriesStore::wal_bytes() const {
  return wal_ ? wal_->stats().bytes : 0;
}
WalStats TimeSeriesStore::wal_stats() const {
  return wal_ ? wal_->stats() : WalStats{};
}
BlockStats TimeSeriesStore::block_stats() const {
  std::lock_guard s(stats_mu_);
  return stats_;
}

void TimeSeriesStore::stop_block_thread() {
  {
    std::lock_guard lock(thread_mu_);
    stop_ = true;
  }
  thread_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::vector<std::function<void(Status)>> left;
  left.swap(flush_waiters_);  // the block thread is gone: nobody else takes them
  for (auto& done : flush_requests_) left.push_back(std::move(done));
  flush_requests_.clear();
  for (auto& done : left) done(Status::Unavailable("the store is closing"));
}

}  // namespace fp::tsdb
