#include "app/check_command.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>

#include "kpi/device_activity_log.h"
#include "storage/catalog/sqlite.h"
#include "storage/fs/posix_file_system.h"
#include "storage/tsdb/store_check.h"
#include "storage/tsdb/time_series_store.h"

namespace fp {
namespace {

// The catalog's own verdict: "ok", or SQLite's list of problems.
std::string check_catalog(const std::string& path) {
  auto db = sqlite::Db::open(path);
  if (!db.ok()) return std::string(db.status().message());
  auto st = db->prepare("PRAGMA integrity_check");
  if (!st.ok()) return std::string(st.status().message());
  std::string out;
  for (;;) {
    auto row = st->step();
    if (!row.ok()) return std::string(row.status().message());
    if (!*row) break;
    out += (out.empty() ? "" : "; ") + st->text(0);
  }
  return out;
}

}  // namespace

int run_check(const std::string& data_dir, const std::string& heading) {
  const std::string tsdb_dir = (std::filesystem::path(data_dir) / "tsdb").string();
  const int64_t partition_ms = tsdb::StoreOptions{}.partition_ms;
  auto report = tsdb::check_store(PosixFileSystem::instance(), tsdb_dir, partition_ms);
  if (!report.ok()) {
    std::cerr << "check: cannot read the store: " << report.status().message() << "\n";
    return 2;
  }
  bool damaged = report->damaged();
  if (!heading.empty()) std::cout << heading << "\n";
  for (const auto& f : report->findings)
    std::cout << (f.damage ? "DAMAGED " : "note    ") << "tsdb/" << f.file << ": " << f.problem
              << "\n";
  const auto catalog = (std::filesystem::path(data_dir) / "catalog.db").string();
  if (std::filesystem::exists(catalog)) {
    const std::string verdict = check_catalog(catalog);
    if (verdict != "ok") {
      damaged = true;
      std::cout << "DAMAGED catalog.db: " << verdict << "\n";
    }
  }
  // The KPI activity journal: damage in its middle is lost KPI counts (the server reads past
  // it and moves the journal to kpi/quarantine); a torn tail is normal after a crash.
  const std::string kpi_dir = (std::filesystem::path(data_dir) / "kpi").string();
  auto journal = check_activity_journal(PosixFileSystem::instance(), kpi_dir);
  if (!journal.ok()) {
    damaged = true;
    std::cout << "DAMAGED kpi/activity.journal: " << journal.status().message() << "\n";
  } else if (!journal->readable) {
    damaged = true;
    std::cout << "DAMAGED kpi/activity.journal: not a journal this version reads\n";
  } else if (journal->damaged_stretches > 0) {
    damaged = true;
    std::cout << "DAMAGED kpi/activity.journal: " << journal->damaged_stretches
              << " damaged stretch(es), " << journal->damaged_bytes
              << " bytes unreadable; the records after them are read\n";
  } else if (journal->torn_tail_bytes > 0) {
    std::cout << "note    kpi/activity.journal: torn tail of " << journal->torn_tail_bytes
              << " bytes (cut at the next start)\n";
  }
  if (journal.ok() && journal->quarantined_files > 0)
    std::cout << "note    kpi/quarantine: " << journal->quarantined_files
              << " damaged journal(s) kept\n";
  std::cout << "checked " << report->blocks << " blocks (" << report->block_entries
            << " series entries), " << report->wal_segments << " WAL segments ("
            << report->wal_records << " records), CHECKPOINT, TOMBSTONES, catalog.db, "
            << (journal.ok() ? journal->records : 0) << " KPI journal records; "
            << report->quarantined_files
            << " files in quarantine: " << (damaged ? "DAMAGED (run `fleetpulse repair`)" : "clean")
            << "\n";
  return damaged ? 1 : 0;
}

namespace {

// Holds the data directory's LOCK (as the server does) for the life of the process, so a
// server cannot start meanwhile; false when a server holds it.
bool lock_data_dir(const std::string& data_dir) {
  const std::string path = (std::filesystem::path(data_dir) / "LOCK").string();
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  return fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) == 0;
}

}  // namespace

void add_check_command(CLI::App& app) {
  auto data_dir = std::make_shared<std::string>("./data");
  CLI::App* cmd = app.add_subcommand(
      "check", "verify every file of a stopped server's data directory (exit 1 if damaged)");
  cmd->add_option("--data-dir", *data_dir, "the data directory")
      ->capture_default_str()
      ->type_name("DIR");
  cmd->callback([data_dir] {
    if (!std::filesystem::is_directory(*data_dir)) {
      std::cerr << "check: no data directory " << *data_dir << "\n";
      std::exit(2);
    }
    if (!lock_data_dir(*data_dir)) {
      std::cerr << "check: a server is using " << *data_dir << "; stop it first\n";
      std::exit(2);
    }
    std::exit(run_check(*data_dir));
  });
}

}  // namespace fp
