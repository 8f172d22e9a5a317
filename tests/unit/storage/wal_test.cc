// The write-ahead log as a spec: what survives a crash, what recovery cuts, how segments roll
// and go away, and how the writer behaves when the disk fills up. Crashes, torn writes, bit
// flips and full disks come from FaultInjectingFileSystem; one test uses the real disk.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "storage/fs/fault_injecting_file_system.h"
#include "storage/fs/posix_file_system.h"
#include "storage/wal/crc32c.h"
#include "storage/wal/wal_format.h"
#include "storage/wal/wal_recovery.h"
#include "storage/wal/wal_writer.h"
#include "unit/temp_dir.h"
#include "util/clock.h"

namespace fp {
namespace {

constexpr const char* kDir = "/data/wal";

// Deterministic, LSN-specific bytes, so a record replayed under the wrong LSN is noticed.
std::string payload_for(uint64_t lsn, size_t size) {
  std::string p(size, '\0');
  uint64_t x = lsn * 0x9E3779B97F4A7C15ull + size;
  for (char& c : p) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  return p;
}

struct Replayed {
  std::vector<std::pair<uint64_t, std::string>> records;
  WalRecoveryResult result;
};

Replayed recover(FileSystem& fs, const std::string& dir, uint64_t from_lsn = 1) {
  Replayed r;
  Result<WalRecoveryResult> res =
      recover_wal(fs, dir, from_lsn, [&](uint64_t lsn, std::string_view payload) {
        r.records.emplace_back(lsn, std::string(payload));
        return Status::Ok();
      });
  EXPECT_TRUE(res.ok()) << res.status().message();
  if (res.ok()) r.result = std::move(res).value();
  return r;
}

std::vector<uint64_t> lsns(const Replayed& r) {
  std::vector<uint64_t> out;
  for (const auto& rec : r.records) out.push_back(rec.first);
  return out;
}

std::vector<uint64_t> range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> out;
  for (uint64_t l = first; l <= last; ++l) out.push_back(l);
  return out;
}

void expect_payloads_match(const Replayed& r) {
  for (const auto& [lsn, payload] : r.records) {
    ASSERT_EQ(payload, payload_for(lsn, payload.size())) << "garbage at LSN " << lsn;
  }
}

class WalTest : public ::testing::Test {
 protected:
  WalOptions options(uint64_t segment_bytes = 64ull << 20,
                     FsyncPolicy policy = FsyncPolicy::kAlways) {
    WalOptions o;
    o.dir = kDir;
    o.segment_bytes = segment_bytes;
    o.fsync = policy;
    o.clock = &clock_;
    return o;
  }

  std::unique_ptr<WalWriter> open(uint64_t next_lsn, const WalOptions& o) {
    Result<std::unique_ptr<WalWriter>> w = WalWriter::open(fs_, o, next_lsn);
    EXPECT_TRUE(w.ok()) << w.status().message();
    return w.ok() ? std::move(w).value() : nullptr;
  }

  // Appends `count` records of `size` bytes (payload_for their LSN), committing every `group`.
  static void write_records(WalWriter& w, int count, size_t size, int group = 1) {
    for (int i = 0; i < count; ++i) {
      uint64_t lsn = w.next_lsn();
      Result<uint64_t> got = w.append(payload_for(lsn, size));
      ASSERT_TRUE(got.ok()) << got.status().message();
      ASSERT_EQ(*got, lsn);
      if ((i + 1) % group == 0 || i + 1 == count) {
        Status s = w.commit();
        ASSERT_TRUE(s.ok()) << s.message();
      }
    }
  }

  // The segment files of kDir, oldest first.
  std::vector<std::string> segment_names() {
    std::vector<std::string> out;
    Result<std::vector<std::string>> names = fs_.list_dir(kDir);
    if (!names.ok()) return out;
    for (const std::string& n : *names) {
      if (wal::parse_segment_file_name(n)) out.push_back(n);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  FaultInjectingFileSystem fs_;
  ManualClock clock_;
};

TEST_F(WalTest, AcknowledgedRecordsSurviveCrash) {
  auto w = open(1, options());
  write_records(*w, 100, 40, /*group=*/10);
  EXPECT_EQ(w->stats().last_synced_lsn, 100u);
  fs_.crash();

  Replayed r = recover(fs_, kDir);
  EXPECT_EQ(lsns(r), range(1, 100));
  expect_payloads_match(r);
  EXPECT_FALSE(r.result.cut.has_value());
  EXPECT_EQ(r.result.next_lsn, 101u);
  EXPECT_EQ(r.result.records_replayed, 100u);
}

TEST_F(WalTest, UnsyncedRecordsAreLostButNothingElse) {
  WalOptions o = options(64ull << 20, FsyncPolicy::kInterval);
  o.interval_ms = 1000;
  auto w = open(1, o);
  write_records(*w, 10, 30);
  clock_.advance(1000);
  ASSERT_TRUE(w->sync_if_due().ok());
  EXPECT_EQ(w->stats().last_synced_lsn, 10u);
  write_records(*w, 5, 30);  // written, but the interval has not passed: not synced
  EXPECT_EQ(w->stats().last_written_lsn, 15u);
  EXPECT_EQ(w->stats().last_synced_lsn, 10u);
  fs_.crash();

  Replayed r = recover(fs_, kDir);
  EXPECT_EQ(lsns(r), range(1, 10));
  expect_payloads_match(r);
  EXPECT_FALSE(r.result.cut.has_value()) << "dropped bytes are gone, not torn";
  EXPECT_EQ(r.result.next_lsn, 11u);
}

TEST_F(WalTest, IntervalPolicyFsyncsAtMostOncePerInterval) {
  WalOptions o = options(64ull << 20, FsyncPolicy::kInterval);
  o.interval_ms = 500;
  auto w = open(1, o);
  write_records(*w, 1, 10);  // creating the segment syncs it and its directory
  uint64_t after_create = w->stats().fsyncs;
  write_records(*w, 20, 10);
  EXPECT_EQ(w->stats().fsyncs, after_create);
  clock_.advance(500);
  write_records(*w, 1, 10);
  EXPECT_EQ(w->stats().fsyncs, after_create + 1);
  EXPECT_EQ(w->stats().last_synced_lsn, 22u);
  write_records(*w, 3, 10);
  ASSERT_TRUE(w->sync_now().ok());
  EXPECT_EQ(w->stats().last_synced_lsn, 25u);
}

TEST_F(WalTest, TornTailIsCutAndRecoveryStarts) {
  auto w = open(1, options());
  write_records(*w, 20, 50);
  uint64_t good_size = *fs_.file_size(std::string(kDir) + "/" + segment_names().back());
  fs_.tear_next_write(7);
  ASSERT_TRUE(w->append("this record is torn by a power loss").ok());
  EXPECT_FALSE(w->commit().ok());
  w.reset();
  fs_.crash();
  EXPECT_EQ(WalWriter::open(fs_, options(), 21).status().code(), StatusCode::kInvalidArgument)
      << "appending after a torn tail would hide every later record from recovery";

  Replayed r = recover(fs_, kDir);
  EXPECT_EQ(lsns(r), range(1, 20));
  expect_payloads_match(r);
  ASSERT_TRUE(r.result.cut.has_value());
  EXPECT_EQ(r.result.cut->reason, WalDefect::kTruncatedRecord);
  EXPECT_EQ(r.result.cut->segment, wal::segment_file_name(1));
  EXPECT_EQ(r.result.cut->offset, good_size);
  EXPECT_EQ(r.result.cut->bytes_dropped, 7u);
  EXPECT_NE(describe(*r.result.cut).find("truncated record"), std::string::npos);
  EXPECT_EQ(r.result.next_lsn, 21u);
  EXPECT_EQ(*fs_.file_size(std::string(kDir) + "/" + wal::segment_file_name(1)), good_size);

  // The server starts: the writer continues the sequence and a second recovery is clean.
  w = open(r.result.next_lsn, options());
  write_records(*w, 5, 50);
  fs_.crash();
  Replayed again = recover(fs_, kDir);
  EXPECT_EQ(lsns(again), range(1, 25));
  expect_payloads_match(again);
  EXPECT_FALSE(again.result.cut.has_value());
}

TEST_F(WalTest, BitFlipInMiddleCostsOnlyThatRecordAndKeepsLaterSegments) {
  auto w = open(1, options(/*segment_bytes=*/1024));
  write_records(*w, 60, 100);  // 116 bytes framed: 9 records per segment
  w.reset();
  std::vector<std::string> before = segment_names();
  ASSERT_GE(before.size(), 5u);
  const std::string victim = before[1];
  uint64_t first = *wal::parse_segment_file_name(victim);
  // Flip a payload bit of the third record of the second segment.
  uint64_t record_offset = wal::kSegmentHeaderSize + 2 * (wal::kRecordHeaderSize + 100);
  ASSERT_TRUE(fs_.flip_bit(std::string(kDir) + "/" + victim, record_offset + 20 + 3, 5).ok());

  Replayed r = recover(fs_, kDir);
  std::vector<uint64_t> want = range(1, 60);
  want.erase(std::find(want.begin(), want.end(), first + 2));
  EXPECT_EQ(lsns(r), want);
  expect_payloads_match(r);
  EXPECT_FALSE(r.result.cut.has_value());
  ASSERT_EQ(r.result.damage.size(), 1u);
  const WalDamage& d = r.result.damage[0];
  EXPECT_EQ(d.reason, WalDefect::kChecksumMismatch);
  EXPECT_EQ(d.segment, victim);
  EXPECT_EQ(d.offset, record_offset);
  EXPECT_EQ(d.bytes, wal::kRecordHeaderSize + 100);
  EXPECT_EQ(d.first_lsn, first + 2);
  EXPECT_EQ(d.records, 1u);
  EXPECT_FALSE(d.before_checkpoint);
  EXPECT_EQ(r.result.records_skipped, 1u);
  EXPECT_NE(describe(d).find("1 records lost"), std::string::npos) << describe(d);
  EXPECT_EQ(segment_names(), before) << "no segment is removed";
  EXPECT_EQ(r.result.next_lsn, 61u);

  // The writer continues after it; the next recovery finds the same damage and the new records.
  w = open(r.result.next_lsn, options(1024));
  write_records(*w, 3, 100);
  w.reset();
  Replayed again = recover(fs_, kDir);
  want.insert(want.end(), {61, 62, 63});
  EXPECT_EQ(lsns(again), want);
  ASSERT_EQ(again.result.damage.size(), 1u);
  EXPECT_EQ(again.result.damage[0].first_lsn, first + 2);
}

TEST_F(WalTest, DamagedLengthFieldIsSkippedToTheNextValidRecord) {
  auto w = open(1, options());
  write_records(*w, 20, 100);
  w.reset();
  const std::string path = std::string(kDir) + "/" + wal::segment_file_name(1);
  const uint64_t record_offset = wal::kSegmentHeaderSize + 7 * (wal::kRecordHeaderSize + 100);
  ASSERT_TRUE(fs_.flip_bit(path, record_offset + 2, 3).ok());  // length now runs past the end

  Replayed r = recover(fs_, kDir);
  std::vector<uint64_t> want = range(1, 20);
  want.erase(want.begin() + 7);
  EXPECT_EQ(lsns(r), want);
  expect_payloads_match(r);
  EXPECT_FALSE(r.result.cut.has_value());
  ASSERT_EQ(r.result.damage.size(), 1u);
  EXPECT_EQ(r.result.damage[0].first_lsn, 8u);
  EXPECT_EQ(r.result.damage[0].records, 1u);
}

TEST_F(WalTest, DamageThenATornTailIsReportedAndCutSeparately) {
  auto w = open(1, options());
  write_records(*w, 10, 100);
  fs_.tear_next_write(9);
  ASSERT_TRUE(w->append("torn by a power loss").ok());
  EXPECT_FALSE(w->commit().ok());
  w.reset();
  fs_.crash();
  const std::string path = std::string(kDir) + "/" + wal::segment_file_name(1);
  ASSERT_TRUE(fs_.flip_bit(path, wal::kSegmentHeaderSize + 3 * 116 + 30, 0).ok());

  Replayed r = recover(fs_, kDir);
  std::vector<uint64_t> want = range(1, 10);
  want.erase(want.begin() + 3);
  EXPECT_EQ(lsns(r), want);
  ASSERT_EQ(r.result.damage.size(), 1u);
  EXPECT_EQ(r.result.damage[0].first_lsn, 4u);
  ASSERT_TRUE(r.result.cut.has_value()) << "the torn tail is still cut, as a torn tail";
  EXPECT_EQ(r.result.cut->bytes_dropped, 9u);
  EXPECT_EQ(r.result.next_lsn, 11u);
}

TEST_F(WalTest, DamageBeforeTheCheckpointIsReportedButIsNoLoss) {
  auto w = open(1, options());
  write_records(*w, 10, 100);
  w.reset();
  const std::string path = std::string(kDir) + "/" + wal::segment_file_name(1);
  ASSERT_TRUE(fs_.flip_bit(path, wal::kSegmentHeaderSize + 2 * 116 + 40, 1).ok());  // LSN 3
  Replayed r = recover(fs_, kDir, /*from_lsn=*/6);
  EXPECT_EQ(lsns(r), range(6, 10));
  ASSERT_EQ(r.result.damage.size(), 1u);
  EXPECT_TRUE(r.result.damage[0].before_checkpoint);
  EXPECT_EQ(r.result.records_skipped, 0u);
}

TEST_F(WalTest, MissingSegmentInTheMiddleIsAGapAndLaterSegmentsAreKept) {
  auto w = open(1, options(/*segment_bytes=*/512));
  write_records(*w, 30, 100);
  w.reset();
  std::vector<std::string> before = segment_names();
  ASSERT_GE(before.size(), 4u);
  ASSERT_TRUE(fs_.remove_file(std::string(kDir) + "/" + before[1]).ok());

  Replayed r = recover(fs_, kDir);
  uint64_t second = *wal::parse_segment_file_name(before[1]);
  uint64_t third = *wal::parse_segment_file_name(before[2]);
  std::vector<uint64_t> want = range(1, second - 1);
  for (uint64_t l = third; l <= 30; ++l) want.push_back(l);
  EXPECT_EQ(lsns(r), want);
  EXPECT_FALSE(r.result.cut.has_value());
  ASSERT_EQ(r.result.damage.size(), 1u);
  EXPECT_EQ(r.result.damage[0].reason, WalDefect::kLsnOutOfSequence);
  EXPECT_EQ(r.result.damage[0].segment, before[2]);
  EXPECT_EQ(r.result.damage[0].first_lsn, second);
  EXPECT_EQ(r.result.damage[0].records, third - second);
  before.erase(before.begin() + 1);
  EXPECT_EQ(segment_names(), before);
  EXPECT_EQ(r.result.next_lsn, 31u);
}

TEST_F(WalTest, OlderSegmentWithADamagedHeaderIsMovedToQuarantineAndTheRestReplayed) {
  auto w = open(1, options(/*segment_bytes=*/512));
  write_records(*w, 30, 100);
  w.reset();
  std::vector<std::string> before = segment_names();
  ASSERT_GE(before.size(), 4u);
  ASSERT_TRUE(fs_.flip_bit(std::string(kDir) + "/" + before[1], 1, 2).ok());  // magic
  ASSERT_TRUE(fs_.create_dir("/data/quarantine").ok());

  Result<WalRecoveryResult> r = recover_wal(
      fs_, kDir, 1, [](uint64_t, std::string_view) { return Status::Ok(); }, "/data/quarantine");
  ASSERT_TRUE(r.ok()) << r.status().message();
  uint64_t second = *wal::parse_segment_file_name(before[1]);
  uint64_t third = *wal::parse_segment_file_name(before[2]);
  ASSERT_EQ(r->damage.size(), 1u);
  EXPECT_EQ(r->damage[0].reason, WalDefect::kBadHeader);
  EXPECT_TRUE(r->damage[0].moved);
  EXPECT_EQ(r->damage[0].records, third - second);
  EXPECT_TRUE(fs_.exists("/data/quarantine/" + before[1])) << "moved, not deleted";
  EXPECT_EQ(r->records_replayed, 30 - (third - second));
  EXPECT_EQ(r->next_lsn, 31u);
}

TEST_F(WalTest, CrashDuringSegmentCreationLeavesAHeaderlessFileThatRecoveryRemoves) {
  auto w = open(1, options(/*segment_bytes=*/256));
  write_records(*w, 3, 100);  // fills the first segment
  // Rolling = open (1 op), write the header (torn after 5 bytes).
  fs_.tear_next_write(5);
  ASSERT_TRUE(w->append("lands in the second segment").ok());
  EXPECT_FALSE(w->commit().ok());
  w.reset();
  // The directory entry was not synced: the half-made segment is gone after the crash...
  fs_.crash();
  EXPECT_EQ(segment_names().size(), 1u);
  // ...unless the directory entry did reach the disk (planted here by hand).
  fs_.put_file(std::string(kDir) + "/" + wal::segment_file_name(4), "FPWAL");

  Replayed r = recover(fs_, kDir);
  EXPECT_EQ(lsns(r), range(1, 3));
  ASSERT_TRUE(r.result.cut.has_value());
  EXPECT_EQ(r.result.cut->reason, WalDefect::kBadHeader);
  EXPECT_TRUE(r.result.cut->segment_removed);
  EXPECT_EQ(r.result.cut->bytes_dropped, 5u);
  EXPECT_EQ(segment_names().size(), 1u);
  EXPECT_EQ(r.result.next_lsn, 4u);
}

TEST_F(WalTest, SegmentOfAnotherFormatVersionStopsRecoveryInsteadOfBeingCut) {
  auto w = open(1, options());
  write_records(*w, 3, 10);
  w.reset();
  const std::string path = std::string(kDir) + "/" + wal::segment_file_name(1);
  ASSERT_TRUE(fs_.flip_bit(path, 5, 1).ok());  // version 1 -> 3
  uint64_t size = *fs_.file_size(path);
  Result<WalRecoveryResult> r =
      recover_wal(fs_, kDir, 1, [](uint64_t, std::string_view) { return Status::Ok(); });
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("format version 3"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(*fs_.file_size(path), size) << "nothing was cut";
}

TEST_F(WalTest, RecordsSpanManySegmentsInOrder) {
  std::mt19937_64 rng(7);
  auto w = open(1, options(/*segment_bytes=*/4096));
  std::vector<size_t> sizes;
  while (w->next_lsn() <= 1000) {
    int group = static_cast<int>(rng() % 8) + 1;
    for (int i = 0; i < group; ++i) {
      size_t size = rng() % 300;
      sizes.push_back(size);
      ASSERT_TRUE(w->append(payload_for(w->next_lsn(), size)).ok());
    }
    ASSERT_TRUE(w->commit().ok());
  }
  uint64_t last = w->next_lsn() - 1;
  WalStats st = w->stats();
  w.reset();
  std::vector<std::string> names = segment_names();
  EXPECT_GT(names.size(), 20u);
  EXPECT_EQ(st.segments, names.size());

  Replayed r = recover(fs_, kDir);
  EXPECT_EQ(lsns(r), range(1, last));
  for (const auto& [lsn, payload] : r.records) {
    ASSERT_EQ(payload, payload_for(lsn, sizes[lsn - 1]));
  }
  // Each segment is named after its first record, which its header repeats.
  for (const std::string& name : names) {
    std::string bytes = *fs_.read_file(std::string(kDir) + "/" + name);
    ASSERT_GT(bytes.size(), wal::kSegmentHeaderSize + wal::kRecordHeaderSize);
    uint64_t first = *wal::parse_segment_file_name(name);
    EXPECT_EQ(wal::parse_segment_header(bytes.substr(0, wal::kSegmentHeaderSize)), first);
    EXPECT_EQ(wal::parse_record_header(bytes.substr(wal::kSegmentHeaderSize)).lsn, first);
  }
}

TEST_F(WalTest, TruncateBeforeDropsOnlyWholeOldSegments) {
  auto w = open(1, options(/*segment_bytes=*/1024));
  write_records(*w, 50, 100);
  std::vector<std::string> before = segment_names();
  ASSERT_GE(before.size(), 5u);
  uint64_t third = *wal::parse_segment_file_name(before[2]);
  uint64_t checkpoint = third + 3;  // inside the third segment

  ASSERT_TRUE(w->truncate_before(checkpoint).ok());
  EXPECT_EQ(segment_names(), std::vector<std::string>(before.begin() + 2, before.end()));
  EXPECT_EQ(w->stats().segments, before.size() - 2);
  Replayed from_checkpoint = recover(fs_, kDir, checkpoint);
  EXPECT_EQ(lsns(from_checkpoint), range(checkpoint, 50));
  Replayed everything = recover(fs_, kDir, 1);
  EXPECT_EQ(lsns(everything), range(third, 50));  // the kept segment still holds older records

  // Even a checkpoint past everything keeps the newest segment, which the writer appends to.
  ASSERT_TRUE(w->truncate_before(1000).ok());
  EXPECT_EQ(segment_names(), std::vector<std::string>{before.back()});
  write_records(*w, 2, 10);
  fs_.crash();
  Replayed r = recover(fs_, kDir, 51);
  EXPECT_EQ(lsns(r), range(51, 52));
}

TEST_F(WalTest, ReopenContinuesLsnSequence) {
  auto w = open(1, options());
  write_records(*w, 10, 20);
  ASSERT_TRUE(w->close().ok());
  EXPECT_FALSE(w->append("after close").ok());
  w.reset();

  Replayed r = recover(fs_, kDir);
  ASSERT_EQ(r.result.next_lsn, 11u);
  // A writer that would reuse LSNs already on disk is refused.
  Result<std::unique_ptr<WalWriter>> stale = WalWriter::open(fs_, options(), 5);
  EXPECT_EQ(stale.status().code(), StatusCode::kInvalidArgument);

  w = open(r.result.next_lsn, options());
  Result<uint64_t> lsn = w->append(payload_for(11, 20));
  ASSERT_TRUE(lsn.ok());
  EXPECT_EQ(*lsn, 11u);
  write_records(*w, 4, 20);
  ASSERT_TRUE(w->commit().ok());
  w.reset();
  fs_.crash();

  Replayed again = recover(fs_, kDir);
  EXPECT_EQ(lsns(again), range(1, 15));
  expect_payloads_match(again);
  EXPECT_EQ(segment_names(),
            (std::vector<std::string>{wal::segment_file_name(1), wal::segment_file_name(11)}));
}

TEST_F(WalTest, RecoveryFromACheckpointPastTheWalStartsAtTheCheckpoint) {
  auto w = open(1, options());
  write_records(*w, 5, 20);
  w.reset();
  Replayed r = recover(fs_, kDir, 40);
  EXPECT_TRUE(r.records.empty());
  EXPECT_EQ(r.result.next_lsn, 40u);
  w = open(40, options());
  write_records(*w, 2, 20);
  w.reset();
  EXPECT_EQ(lsns(recover(fs_, kDir, 40)), range(40, 41));
}

TEST_F(WalTest, DiskFullFailsCommitWithClearErrorAndWalStaysReadable) {
  auto w = open(1, options());
  write_records(*w, 10, 100);
  fs_.set_space_left(150);  // one record fits, the second is cut mid-way
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(w->append(payload_for(11 + i, 100)).ok());
  Status s = w->commit();
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_NE(s.message().find("disk full"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("WAL commit of LSNs 11..13"), std::string::npos) << s.message();
  EXPECT_EQ(w->next_lsn(), 11u) << "the failed batch's LSNs are handed out again";
  EXPECT_EQ(w->stats().last_synced_lsn, 10u);

  // The partial write was cut back: the WAL reads cleanly while the writer is still open.
  Replayed r = recover(fs_, kDir);
  EXPECT_EQ(lsns(r), range(1, 10));
  EXPECT_FALSE(r.result.cut.has_value());

  // Still full: refused again, still clean.
  ASSERT_TRUE(w->append(payload_for(11, 100)).ok());
  EXPECT_FALSE(w->commit().ok());

  fs_.set_space_left(std::nullopt);  // space came back
  write_records(*w, 2, 100);
  fs_.crash();
  Replayed after = recover(fs_, kDir);
  EXPECT_EQ(lsns(after), range(1, 12));
  expect_payloads_match(after);
  EXPECT_FALSE(after.result.cut.has_value());
}

TEST_F(WalTest, DiskFullWhileRollingKeepsWritingToTheOldSegmentLater) {
  auto w = open(1, options(/*segment_bytes=*/300));
  write_records(*w, 3, 100);  // the segment is full: the next commit rolls
  fs_.set_space_left(4);      // not even room for a segment header
  ASSERT_TRUE(w->append(payload_for(4, 100)).ok());
  Status s = w->commit();
  EXPECT_NE(s.message().find("disk full"), std::string::npos) << s.message();
  EXPECT_EQ(segment_names().size(), 1u) << "the half-made segment was removed";
  fs_.set_space_left(std::nullopt);
  write_records(*w, 3, 100);
  fs_.crash();
  Replayed r = recover(fs_, kDir);
  EXPECT_EQ(lsns(r), range(1, 6));
  expect_payloads_match(r);
  EXPECT_EQ(segment_names().size(), 2u);
}

TEST_F(WalTest, EmptyAndZeroLengthPayloads) {
  // A directory that does not exist is an empty WAL.
  Replayed none = recover(fs_, "/nowhere", 7);
  EXPECT_TRUE(none.records.empty());
  EXPECT_EQ(none.result.next_lsn, 7u);
  EXPECT_FALSE(none.result.cut.has_value());

  auto w = open(1, options());
  ASSERT_TRUE(w->commit().ok());  // nothing buffered: no segment, no fsync
  EXPECT_TRUE(segment_names().empty());
  EXPECT_EQ(w->stats().fsyncs, 0u);
  for (std::string_view p : {"", "", "x", ""}) ASSERT_TRUE(w->append(p).ok());
  ASSERT_TRUE(w->commit().ok());
  fs_.crash();

  Replayed r = recover(fs_, kDir);
  ASSERT_EQ(r.records.size(), 4u);
  EXPECT_EQ(r.records[0], (std::pair<uint64_t, std::string>{1, ""}));
  EXPECT_EQ(r.records[2], (std::pair<uint64_t, std::string>{3, "x"}));
  EXPECT_EQ(r.records[3], (std::pair<uint64_t, std::string>{4, ""}));
  EXPECT_EQ(r.result.next_lsn, 5u);
}

TEST_F(WalTest, LargeRecordBiggerThanSegmentSize) {
  auto w = open(1, options(/*segment_bytes=*/4096));
  write_records(*w, 1, 100 * 1024);
  write_records(*w, 1, 10);
  EXPECT_EQ(segment_names().size(), 2u) << "the big record has a segment of its own";
  fs_.crash();
  Replayed r = recover(fs_, kDir);
  EXPECT_EQ(lsns(r), range(1, 2));
  EXPECT_EQ(r.records[0].second.size(), 100u * 1024);
  expect_payloads_match(r);

  std::string too_big(wal::kMaxPayloadBytes + 1, 'x');
  EXPECT_EQ(w->append(too_big).status().code(), StatusCode::kTooLarge);
}

TEST_F(WalTest, Crc32cKnownVectorsHardwareMatchesSoftware) {
  using crc32c_internal::extend_hardware;
  using crc32c_internal::extend_software;
  std::string zeros(32, '\0');
  std::string ones(32, '\xff');
  std::string ascending(32, '\0');
  std::string descending(32, '\0');
  for (int i = 0; i < 32; ++i) {
    ascending[i] = static_cast<char>(i);
    descending[i] = static_cast<char>(31 - i);
  }
  // RFC 3720 (iSCSI) B.4 and the usual check value.
  const std::vector<std::pair<std::string, uint32_t>> vectors = {
      {"", 0x00000000u},
      {"123456789", 0xE3069283u},
      {zeros, 0x8A9136AAu},
      {ones, 0x62A8AB43u},
      {ascending, 0x46DD794Eu},
      {descending, 0x113FDB5Cu},
      {"The quick brown fox jumps over the lazy dog", 0x22620404u},
  };
  for (const auto& [data, want] : vectors) {
    EXPECT_EQ(crc32c(data), want) << data;
    EXPECT_EQ(extend_software(0, data.data(), data.size()), want) << data;
    if (crc32c_internal::hardware_available()) {
      EXPECT_EQ(extend_hardware(0, data.data(), data.size()), want) << data;
    }
  }
  // Random lengths and alignments, and extending in pieces.
  std::mt19937_64 rng(1);
  std::string buf(5000, '\0');
  for (char& c : buf) c = static_cast<char>(rng());
  for (int i = 0; i < 500; ++i) {
    size_t off = rng() % 64;
    size_t len = rng() % (buf.size() - off);
    const char* p = buf.data() + off;
    uint32_t sw = extend_software(0, p, len);
    if (crc32c_internal::hardware_available()) {
      ASSERT_EQ(extend_hardware(0, p, len), sw);
    }
    size_t split = len == 0 ? 0 : rng() % len;
    ASSERT_EQ(crc32c_extend(crc32c_extend(0, p, split), p + split, len - split), sw);
  }
  if (!crc32c_internal::hardware_available()) GTEST_SKIP() << "no SSE4.2: software only";
}

// Random crash points — after any operation of the writer or of recovery, with any part of
// the unsynced bytes surviving, on a disk that fills up and frees again — never lose a record
// the writer reported synced, and recovery never replays a record that was not written under
// that LSN.
TEST_F(WalTest, RandomCrashPointsNeverLoseACommittedRecordOrReturnGarbage) {
  int cuts = 0;
  uint64_t replayed = 0;
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    FaultInjectingFileSystem fs;
    ManualClock clock;
    WalOptions o;
    o.dir = kDir;
    o.segment_bytes = 256 + rng() % 2048;
    o.fsync = rng() % 4 == 0 ? FsyncPolicy::kInterval : FsyncPolicy::kAlways;
    o.interval_ms = 100;
    o.clock = &clock;
    std::map<uint64_t, std::string> written;  // LSN -> payload last appended under it
    uint64_t durable = 0;                     // the writer said: synced up to here
    uint64_t checkpoint = 1;
    uint64_t next_lsn = 1;

    for (int cycle = 0; cycle < 4; ++cycle) {
      Result<std::unique_ptr<WalWriter>> opened = WalWriter::open(fs, o, next_lsn);
      ASSERT_TRUE(opened.ok()) << opened.status().message();
      std::unique_ptr<WalWriter> w = std::move(opened).value();
      if (rng() % 3 == 0) {
        fs.tear_next_write(rng() % 40);
      } else {
        fs.stop_after(rng() % 80);
      }
      if (rng() % 3 == 0) fs.set_space_left(rng() % 3000);
      for (int step = 0; step < 40; ++step) {
        int group = static_cast<int>(rng() % 6) + 1;
        for (int i = 0; i < group; ++i) {
          size_t size = rng() % 8 == 0 ? rng() % 1500 : rng() % 120;
          uint64_t lsn = w->next_lsn();
          written[lsn] = payload_for(lsn * 31 + seed, size);
          ASSERT_TRUE(w->append(written[lsn]).ok());
        }
        if (rng() % 3 == 0) clock.advance(60);
        Status s = w->commit();
        durable = std::max(durable, w->stats().last_synced_lsn);
        if (!s.ok() && fs.stopped()) break;
        if (!s.ok() && rng() % 2 == 0) fs.set_space_left(std::nullopt);  // disk full, then not
        if (rng() % 10 == 0) {
          checkpoint = std::max<uint64_t>(checkpoint, 1 + rng() % (durable + 1));
          if (!w->truncate_before(checkpoint).ok()) break;
        }
      }
      w.reset();
      fs.crash([&](const std::string&, uint64_t unsynced) {
        switch (rng() % 3) {
          case 0:
            return uint64_t{0};
          case 1:
            return unsynced;
          default:
            return unsynced == 0 ? 0 : rng() % unsynced;
        }
      });

      // Recovery may itself be interrupted by a crash; it must still converge.
      if (rng() % 4 == 0) {
        fs.stop_after(rng() % 3);
        std::vector<uint64_t> ignored;
        (void)recover_wal(fs, kDir, checkpoint, [&](uint64_t lsn, std::string_view) {
          ignored.push_back(lsn);
          return Status::Ok();
        });
        fs.crash();
      }
      Replayed r = recover(fs, kDir, checkpoint);
      cuts += r.result.cut.has_value() ? 1 : 0;
      replayed += r.records.size();
      uint64_t expect = checkpoint;
      for (const auto& [lsn, payload] : r.records) {
        ASSERT_EQ(lsn, expect++) << "LSNs must be consecutive from the checkpoint";
        ASSERT_EQ(payload, written[lsn]) << "garbage at LSN " << lsn;
      }
      ASSERT_GE(expect, durable + 1) << "lost synced records: replayed up to " << expect - 1;
      ASSERT_EQ(r.result.next_lsn, std::max(checkpoint, expect));
      next_lsn = r.result.next_lsn;
      durable = next_lsn - 1;  // what recovery found is on disk (and synced by its truncate)
      Replayed again = recover(fs, kDir, checkpoint);
      ASSERT_FALSE(again.result.cut.has_value()) << "a second recovery finds nothing to cut";
    }
  }
  // The run did meet torn tails and did replay plenty.
  EXPECT_GT(cuts, 30);
  EXPECT_GT(replayed, 10'000u);
  std::printf("%d cuts, %llu records replayed\n", cuts, static_cast<unsigned long long>(replayed));
}

TEST(FaultInjectingFileSystemTest, CrashForgetsEntriesOfDirectoriesNeverSynced) {
  FaultInjectingFileSystem fs;
  ASSERT_TRUE(fs.create_dir("/d").ok());
  auto a = fs.open_writable("/d/a", false);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*a)->append("synced").ok());
  ASSERT_TRUE((*a)->sync().ok());
  ASSERT_TRUE(fs.sync_dir("/d").ok());
  auto b = fs.open_writable("/d/b", false);
  ASSERT_TRUE((*b)->append("file synced, directory not").ok());
  ASSERT_TRUE((*b)->sync().ok());
  ASSERT_TRUE((*a)->append(" and lost").ok());
  ASSERT_TRUE(fs.rename("/d/a", "/d/c").ok());
  fs.crash();
  EXPECT_EQ(*fs.read_file("/d/a"), "synced");
  EXPECT_FALSE(fs.exists("/d/b"));
  EXPECT_FALSE(fs.exists("/d/c"));
  EXPECT_FALSE((*a)->append("stale handle").ok());
}

class PosixWalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = make_temp_dir("fp_wal_");
    dir_ = (root_ / "nested" / "wal").string();
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::filesystem::path root_;
  std::string dir_;
};

TEST_F(PosixWalTest, RealDiskRoundTripCutsAGarbageTailAndContinues) {
  PosixFileSystem& fs = PosixFileSystem::instance();
  WalOptions o;
  o.dir = dir_;
  o.segment_bytes = 16 * 1024;
  {
    auto w = WalWriter::open(fs, o, 1);
    ASSERT_TRUE(w.ok()) << w.status().message();
    for (uint64_t lsn = 1; lsn <= 500; ++lsn) {
      ASSERT_TRUE((*w)->append(payload_for(lsn, lsn % 200)).ok());
      if (lsn % 7 == 0) {
        ASSERT_TRUE((*w)->commit().ok());
      }
    }
    ASSERT_TRUE((*w)->close().ok());
    EXPECT_GT((*w)->stats().segments, 3u);
  }
  Replayed r = recover(fs, dir_);
  EXPECT_EQ(lsns(r), range(1, 500));
  expect_payloads_match(r);

  // Garbage after the last record, as a torn write leaves it.
  std::vector<std::string> names = *fs.list_dir(dir_);
  std::sort(names.begin(), names.end());
  std::string last = join_path(dir_, names.back());
  uint64_t good = *fs.file_size(last);
  { std::ofstream(last, std::ios::app | std::ios::binary) << std::string(9, '\x5a'); }
  Replayed cut = recover(fs, dir_);
  EXPECT_EQ(lsns(cut), range(1, 500));
  ASSERT_TRUE(cut.result.cut.has_value());
  EXPECT_EQ(cut.result.cut->reason, WalDefect::kTruncatedRecord);
  EXPECT_EQ(*fs.file_size(last), good);

  auto w = WalWriter::open(fs, o, cut.result.next_lsn);
  ASSERT_TRUE(w.ok()) << w.status().message();
  ASSERT_TRUE((*w)->append(payload_for(501, 10)).ok());
  ASSERT_TRUE((*w)->commit().ok());
  ASSERT_TRUE((*w)->truncate_before(400).ok());
  w->reset();
  Replayed after = recover(fs, dir_, 400);
  EXPECT_EQ(lsns(after), range(400, 501));
}

TEST_F(PosixWalTest, PosixFileSystemReportsMissingFilesAsNotFound) {
  PosixFileSystem& fs = PosixFileSystem::instance();
  EXPECT_EQ(fs.list_dir(dir_).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(fs.file_size(dir_ + "/x").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(fs.remove_file(dir_ + "/x").code(), StatusCode::kNotFound);
  ASSERT_TRUE(fs.create_dir(dir_).ok());
  ASSERT_TRUE(fs.create_dir(dir_).ok()) << "creating an existing directory is fine";
  auto f = fs.open_writable(dir_ + "/x", false);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->append("hello").ok());
  ASSERT_TRUE((*f)->sync().ok());
  ASSERT_TRUE(fs.rename(dir_ + "/x", dir_ + "/y").ok());
  ASSERT_TRUE(fs.sync_dir(dir_).ok());
  ASSERT_TRUE(fs.truncate(dir_ + "/y", 4).ok());
  EXPECT_EQ(*fs.read_file(dir_ + "/y"), "hell");
  EXPECT_FALSE(fs.exists(dir_ + "/x"));
}

}  // namespace
}  // namespace fp
