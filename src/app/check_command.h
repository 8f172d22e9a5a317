#pragma once
// `fleetpulse check --data-dir DIR`: verifies every file of a stopped server's data directory
// offline — WAL records, blocks (footer, index, every chunk CRC), CHECKPOINT, TOMBSTONES, and
// the catalog (SQLite `PRAGMA integrity_check`) — and prints what it found, naming each
// damaged file. Exit status 0 when clean, 1 when something is damaged, 2 when it cannot run
// (e.g. a server holds the data directory).

#include <CLI/CLI.hpp>
#include <string>

namespace fp {

// Adds the `check` subcommand to `app`; when it is chosen, parsing runs it and exits.
void add_check_command(CLI::App& app);

// Runs the check on `data_dir` and prints the report to stdout; returns the exit status.
// `heading` introduces the report (e.g. "after repair").
int run_check(const std::string& data_dir, const std::string& heading = "");

}  // namespace fp
