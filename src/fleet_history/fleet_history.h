#pragma once
// FleetHistory: the fleet samples of the last `keep_ms`, in memory and in an append-only file
// that survives kill -9 (see README.md). Thread-safe: one sampler appends while HTTP threads
// read ranges.

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fleet_history/fleet_history_format.h"
#include "util/result.h"

namespace fp {

class FleetHistory {
 public:
  // Opens `path` (created when absent), keeping the samples newer than now_ms - keep_ms. A file
  // that is not a fleet history is renamed to `<path>.corrupt-<now_ms>` (never deleted) and a
  // new one started; torn lines are skipped and counted in skipped_lines().
  static Result<std::unique_ptr<FleetHistory>> open(std::string path, int64_t keep_ms,
                                                    int64_t now_ms);
  ~FleetHistory();
  FleetHistory(const FleetHistory&) = delete;
  FleetHistory& operator=(const FleetHistory&) = delete;

  // Makes `s` durable (written and fdatasync'ed), then visible to range(). Samples older than
  // the window are forgotten; the file is compacted when it holds twice what is kept.
  Status append(const FleetSample& s);
  // The kept samples with from_ms <= ts_ms <= to_ms, oldest first.
  std::vector<FleetSample> range(int64_t from_ms, int64_t to_ms) const;
  size_t skipped_lines() const { return skipped_lines_; }

 private:
  FleetHistory(std::string path, int64_t keep_ms) : path_(std::move(path)), keep_ms_(keep_ms) {}
  Status rewrite();  // the kept samples into a new file, atomically replacing the old one
  Status reopen_for_append();

  const std::string path_;
  const int64_t keep_ms_;
  size_t skipped_lines_ = 0;  // constant after open()

  mutable std::mutex mu_;  // protects everything below
  std::deque<FleetSample> samples_;
  size_t lines_in_file_ = 0;
  int fd_ = -1;
};

}  // namespace fp
