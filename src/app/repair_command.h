#pragma once
// `fleetpulse repair --data-dir DIR`: makes a stopped server's store whole again from what can
// be read, never deleting anything it cannot prove is a copy. It opens the store as the
// server would (a missing or damaged CHECKPOINT is rebuilt from the blocks; a damaged block is
// re-sealed from its readable entries and moved to tsdb/quarantine; damaged WAL records are
// skipped and their segment copied to quarantine), then seals everything the WAL holds into
// blocks with a new checkpoint, so the WAL segments it read — copies now — can go. Prints
// `check` before and after; exit status 0 when the store checks clean afterwards, 1 when not,
// 2 when it cannot run. Damage stays reported (health, partial answers) until acknowledged.

#include <CLI/CLI.hpp>

namespace fp {

// Adds the `repair` subcommand to `app`; when it is chosen, parsing runs it and exits.
void add_repair_command(CLI::App& app);

}  // namespace fp
