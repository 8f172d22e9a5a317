#include "app/repair_command.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>

#include "app/check_command.h"
#include "storage/fs/posix_file_system.h"
#include "storage/tsdb/time_series_store.h"
#include "storage/wal/wal_format.h"
#include "storage/wal/wal_segment_reader.h"

namespace fp {
namespace {

// Removes the WAL segments whose every record is below the checkpoint: the blocks hold them
// (and a damaged one was copied to quarantine when the store opened).
Status drop_covered_segments(FileSystem& fs, const std::string& tsdb_dir, int* dropped) {
  FP_ASSIGN_OR_RETURN(tsdb::Checkpoint cp, tsdb::read_checkpoint(fs, tsdb_dir));
  const std::string wal = join_path(tsdb_dir, "wal");
  if (!fs.exists(wal)) return Status::Ok();
  FP_ASSIGN_OR_RETURN(std::vector<std::string> names, fs.list_dir(wal));
  for (const auto& name : names) {
    auto first = wal::parse_segment_file_name(name);
    if (!first) continue;
    const std::string path = join_path(wal, name);
    FP_ASSIGN_OR_RETURN(std::unique_ptr<WalSegmentReader> r,
                        WalSegmentReader::open(fs, path, *first));
    WalRecordView rec;
    for (;;) {
      FP_ASSIGN_OR_RETURN(bool got, r->next(&rec));
      if (!got) break;
    }
    if (r->defect() != WalDefect::kNone || r->next_lsn() > cp.lsn) continue;
    FP_RETURN_IF_ERROR(fs.remove_file(path));
    ++*dropped;
  }
  return fs.sync_dir(wal);
}

int run_repair(const std::string& data_dir) {
  (void)run_check(data_dir, "before repair:");
  FileSystem& fs = PosixFileSystem::instance();
  tsdb::StoreOptions options;
  options.dir = (std::filesystem::path(data_dir) / "tsdb").string();
  options.background = false;
  tsdb::RecoveryReport rep;
  {
    auto store = tsdb::TimeSeriesStore::open(fs, options, {}, &rep);
    if (!store.ok()) {
      std::cerr << "repair: cannot open the store: " << store.status().message() << "\n";
      return 2;
    }
    for (const auto& line : rep.damage) std::cout << "repaired: " << line << "\n";
    if (!rep.truncation.empty()) std::cout << "cut torn WAL tail: " << rep.truncation << "\n";
    if (Status s = (*store)->flush_now(); !s.ok()) {
      std::cerr << "repair: cannot seal the WAL into blocks: " << s.message() << "\n";
      return 2;
    }
    std::cout << "sealed " << rep.points << " points from " << rep.records
              << " WAL records into blocks\n";
  }
  int dropped = 0;
  if (Status s = drop_covered_segments(fs, options.dir, &dropped); !s.ok()) {
    std::cerr << "repair: " << s.message() << "\n";
    return 2;
  }
  std::cout << "removed " << dropped << " WAL segments now held by blocks\n";
  const int rc = run_check(data_dir, "after repair:");
  if (rc == 1)
    std::cout << "a damaged catalog.db is not repaired here: restore it from a backup, or "
                 "use sqlite3's .recover\n";
  if (rc == 0)
    std::cout << "damage stays reported until acknowledged: POST "
                 "/api/v1/admin/storage/acknowledge-damage\n";
  return rc;
}

bool lock_data_dir(const std::string& data_dir) {
  const std::string path = (std::filesystem::path(data_dir) / "LOCK").string();
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  return fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) == 0;
}

}  // namespace

void add_repair_command(CLI::App& app) {
  auto data_dir = std::make_shared<std::string>("./data");
  CLI::App* cmd = app.add_subcommand(
      "repair", "rebuild a stopped server's store metadata and re-seal what can be read");
  cmd->add_option("--data-dir", *data_dir, "the data directory")
      ->capture_default_str()
      ->type_name("DIR");
  cmd->callback([data_dir] {
    if (!std::filesystem::is_directory(*data_dir)) {
      std::cerr << "repair: no data directory " << *data_dir << "\n";
      std::exit(2);
    }
    if (!lock_data_dir(*data_dir)) {
      std::cerr << "repair: a server is using " << *data_dir << "; stop it first\n";
      std::exit(2);
    }
    std::exit(run_repair(*data_dir));
  });
}

}  // namespace fp
