#include "storage/wal/wal_writer.h"

#include <algorithm>

#include "storage/wal/wal_format.h"
#include "storage/wal/wal_segment_reader.h"

namespace fp {
namespace {

constexpr size_t kKeepPendingCapacity = 16u << 20;

Status with_context(const Status& s, std::string_view what) {
  return Status(s.code(), std::string(what) + ": " + s.message());
}

// Reads the newest segment to be sure appending from next_lsn continues its LSN sequence: a
// caller that skipped recovery (or passed a stale LSN) would otherwise write duplicate LSNs.
Status check_last_segment_ends_before(FileSystem& fs, const std::string& dir, uint64_t first_lsn,
                                      uint64_t next_lsn) {
  std::string name = wal::segment_file_name(first_lsn);
  FP_ASSIGN_OR_RETURN(std::unique_ptr<WalSegmentReader> reader,
                      WalSegmentReader::open(fs, join_path(dir, name), first_lsn));
  WalRecordView record;
  for (;;) {
    FP_ASSIGN_OR_RETURN(bool got, reader->next(&record));
    if (!got) break;
  }
  if (reader->defect() != WalDefect::kNone) {
    return Status::InvalidArgument("WAL segment " + name + " ends in a " +
                                   std::string(to_string(reader->defect())) +
                                   "; run WAL recovery first");
  }
  if (reader->next_lsn() > next_lsn) {
    return Status::InvalidArgument("WAL segment " + name + " holds records up to LSN " +
                                   std::to_string(reader->next_lsn() - 1) + ", at or after " +
                                   std::to_string(next_lsn) + "; run WAL recovery first");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<WalWriter>> WalWriter::open(FileSystem& fs, WalOptions options,
                                                   uint64_t next_lsn) {
  if (options.dir.empty()) return Status::InvalidArgument("WAL directory is empty");
  if (next_lsn == 0) return Status::InvalidArgument("WAL LSNs start at 1");
  if (options.segment_bytes == 0) return Status::InvalidArgument("WAL segment_bytes is 0");
  FP_RETURN_IF_ERROR(fs.create_dir(options.dir));
  FP_ASSIGN_OR_RETURN(std::vector<std::string> names, fs.list_dir(options.dir));
  std::vector<Segment> segments;
  for (const std::string& name : names) {
    std::optional<uint64_t> first = wal::parse_segment_file_name(name);
    if (!first) continue;
    FP_ASSIGN_OR_RETURN(uint64_t bytes, fs.file_size(join_path(options.dir, name)));
    // A segment named next_lsn without records (a crash right after a roll) is overwritten.
    if (*first > next_lsn || (*first == next_lsn && bytes > wal::kSegmentHeaderSize)) {
      return Status::InvalidArgument("WAL segment " + name + " holds records at or after LSN " +
                                     std::to_string(next_lsn) + "; run WAL recovery first");
    }
    segments.push_back({*first, bytes});
  }
  std::sort(segments.begin(), segments.end(),
            [](const Segment& a, const Segment& b) { return a.first_lsn < b.first_lsn; });
  if (!segments.empty() && segments.back().first_lsn < next_lsn) {
    FP_RETURN_IF_ERROR(
        check_last_segment_ends_before(fs, options.dir, segments.back().first_lsn, next_lsn));
  }
  return std::unique_ptr<WalWriter>(
      new WalWriter(fs, std::move(options), next_lsn, std::move(segments)));
}

WalWriter::WalWriter(FileSystem& fs, WalOptions options, uint64_t next_lsn,
                     std::vector<Segment> segments)
    : fs_(fs),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : SystemClock::instance()),
      segments_(std::move(segments)),
      pending_first_lsn_(next_lsn),
      next_lsn_(next_lsn),
      written_lsn_(next_lsn - 1),
      synced_lsn_(next_lsn - 1),
      last_sync_ms_(clock_.now_ms()) {
  publish_stats();
}

WalWriter::~WalWriter() = default;

Status WalWriter::usable() const {
  if (closed_) return Status::Unavailable("WAL writer is closed");
  return failed_;
}

Result<uint64_t> WalWriter::append(std::string_view payload) {
  FP_RETURN_IF_ERROR(usable());
  if (payload.size() > wal::kMaxPayloadBytes) {
    return Status(StatusCode::kTooLarge, "WAL record of " + std::to_string(payload.size()) +
                                             " bytes is over the limit of " +
                                             std::to_string(wal::kMaxPayloadBytes));
  }
  wal::append_record(next_lsn_, payload, pending_);
  return next_lsn_++;
}

Status WalWriter::commit() {
  FP_RETURN_IF_ERROR(usable());
  if (pending_.empty()) return sync_if_due();
  Status s = write_pending();
  if (!s.ok()) {
    s = with_context(s, "WAL commit of LSNs " + std::to_string(pending_first_lsn_) + ".." +
                            std::to_string(next_lsn_ - 1) + " failed");
    next_lsn_ = pending_first_lsn_;  // nothing of this batch stayed in the WAL
  }
  pending_.clear();
  // Keep the buffer for the next batch, unless one unusually big batch inflated it.
  if (pending_.capacity() > kKeepPendingCapacity) std::string().swap(pending_);
  pending_first_lsn_ = next_lsn_;
  if (!s.ok()) return s;
  ++commits_;
  publish_stats();
  return options_.fsync == FsyncPolicy::kInterval ? sync_if_due() : Status::Ok();
}

Status WalWriter::write_pending() {
  if (repair_size_) FP_RETURN_IF_ERROR(repair());
  bool due = !current_ || (current_->size() > wal::kSegmentHeaderSize &&
                           (roll_requested_ || current_->size() >= options_.segment_bytes));
  if (due) {
    FP_RETURN_IF_ERROR(roll());
    roll_requested_ = false;
  }
  uint64_t start = current_->size();
  Status s = current_->append(pending_);
  if (s.ok() && options_.fsync == FsyncPolicy::kAlways) {
    s = current_->sync();
    if (s.ok()) ++fsyncs_;
  }
  if (!s.ok()) {
    // Cut the partial write off now; if that fails too, the next commit retries first.
    repair_size_ = start;
    (void)repair();
    return s;
  }
  written_lsn_ = next_lsn_ - 1;
  segments_.back().bytes = current_->size();
  if (options_.fsync == FsyncPolicy::kAlways) {
    synced_lsn_ = written_lsn_;
    last_sync_ms_ = clock_.now_ms();
  } else {
    unsynced_ = true;
  }
  return Status::Ok();
}

std::string WalWriter::segment_path(uint64_t first_lsn) const {
  return join_path(options_.dir, wal::segment_file_name(first_lsn));
}

Status WalWriter::roll() {
  if (current_ && unsynced_ && options_.fsync != FsyncPolicy::kNone) {
    FP_RETURN_IF_ERROR(sync_current());
  }
  uint64_t first = pending_first_lsn_;
  std::string path = segment_path(first);
  // A record-less segment of the same name left by a crash is replaced.
  if (!segments_.empty() && segments_.back().first_lsn == first) segments_.pop_back();
  Result<std::unique_ptr<WritableFile>> file = create_segment(path, first);
  if (!file.ok()) {
    (void)fs_.remove_file(path);
    publish_stats();
    return file.status();
  }
  if (current_) (void)current_->close();  // synced above (or the policy is kNone)
  current_ = std::move(file).value();
  current_path_ = std::move(path);
  unsynced_ = false;
  segments_.push_back({first, current_->size()});
  publish_stats();
  return Status::Ok();
}

Result<std::unique_ptr<WritableFile>> WalWriter::create_segment(const std::string& path,
                                                                uint64_t first_lsn) {
  std::string header;
  wal::append_segment_header(first_lsn, header);
  FP_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, fs_.open_writable(path, false));
  FP_RETURN_IF_ERROR(file->append(header));
  if (options_.fsync != FsyncPolicy::kNone) {
    FP_RETURN_IF_ERROR(file->sync());
    ++fsyncs_;
    FP_RETURN_IF_ERROR(fs_.sync_dir(options_.dir));
    ++fsyncs_;
  }
  return file;
}

Status WalWriter::repair() {
  uint64_t size = *repair_size_;
  if (current_) (void)current_->close();
  current_.reset();
  FP_RETURN_IF_ERROR(fs_.truncate(current_path_, size));
  FP_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, fs_.open_writable(current_path_, true));
  if (file->size() != size) {
    return Status::IoError("WAL segment " + current_path_ + " is " + std::to_string(file->size()) +
                           " bytes after cutting it to " + std::to_string(size));
  }
  current_ = std::move(file);
  repair_size_.reset();
  segments_.back().bytes = size;
  return Status::Ok();
}

// Fsyncs the current segment; a failure leaves acknowledged records in doubt, so it is sticky.
Status WalWriter::sync_current() {
  Status s = current_->sync();
  if (!s.ok()) {
    failed_ =
        with_context(s, "WAL fsync failed with records after LSN " + std::to_string(synced_lsn_) +
                            " in doubt; restart to recover the WAL");
    return failed_;
  }
  ++fsyncs_;
  unsynced_ = false;
  synced_lsn_ = written_lsn_;
  last_sync_ms_ = clock_.now_ms();
  return Status::Ok();
}

Status WalWriter::sync_now() {
  FP_RETURN_IF_ERROR(usable());
  if (!current_ || !unsynced_) return Status::Ok();
  Status s = sync_current();
  publish_stats();
  return s;
}

Status WalWriter::sync_if_due() {
  if (options_.fsync != FsyncPolicy::kInterval || !unsynced_) return usable();
  if (clock_.now_ms() - last_sync_ms_ < options_.interval_ms) return usable();
  return sync_now();
}

Status WalWriter::start_new_segment() {
  FP_RETURN_IF_ERROR(usable());
  if (!pending_.empty()) return Status::InvalidArgument("WAL records are pending");
  if (!current_ || current_->size() <= wal::kSegmentHeaderSize) return Status::Ok();
  pending_first_lsn_ = next_lsn_;
  FP_RETURN_IF_ERROR(roll());
  roll_requested_ = false;
  return Status::Ok();
}

Status WalWriter::truncate_before(uint64_t lsn) {
  FP_RETURN_IF_ERROR(usable());
  // Segment i holds LSNs [first_i, first_{i+1}); the newest one is never removed.
  size_t removable = 0;
  while (removable + 1 < segments_.size() && segments_[removable + 1].first_lsn <= lsn) {
    ++removable;
  }
  Status s;
  size_t removed = 0;
  for (; removed < removable; ++removed) {
    s = fs_.remove_file(segment_path(segments_[removed].first_lsn));
    if (!s.ok() && s.code() != StatusCode::kNotFound) break;
    s = Status::Ok();
  }
  segments_.erase(segments_.begin(), segments_.begin() + static_cast<ptrdiff_t>(removed));
  if (s.ok() && removed > 0 && options_.fsync != FsyncPolicy::kNone) {
    s = fs_.sync_dir(options_.dir);
    if (s.ok()) ++fsyncs_;
  }
  publish_stats();
  return s;
}

Status WalWriter::close() {
  if (closed_) return Status::Ok();
  Status s = commit();
  if (s.ok() && options_.fsync != FsyncPolicy::kNone) s = sync_now();
  if (current_) {
    Status c = current_->close();
    if (s.ok()) s = c;
    current_.reset();
  }
  closed_ = true;
  return s;
}

void WalWriter::publish_stats() {
  WalStats s;
  for (const Segment& seg : segments_) s.bytes += seg.bytes;
  s.segments = segments_.size();
  s.fsyncs = fsyncs_;
  s.commits = commits_;
  s.last_written_lsn = written_lsn_;
  s.last_synced_lsn = synced_lsn_;
  std::lock_guard<std::mutex> lock(stats_mu_);
  stats_ = s;
}

WalStats WalWriter::stats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return stats_;
}

}  // namespace fp
