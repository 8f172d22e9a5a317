#pragma once
// What `serve` does to its data directory before it opens anything in it: files and
// directories the server creates are private to its user (umask 077: directories 0700, files
// 0600 — the catalog holds key hashes and device tokens, the telemetry may be personal data);
// an existing directory that others can read keeps working but is reported; temporary files
// of writes a crash interrupted (`*.tmp` beside the files they were to replace) are removed.
//
// Call from the main thread at start, before other threads create files.

#include <string>
#include <vector>

namespace fp {

// Sets the process umask to 077. Returns the previous one.
unsigned restrict_new_file_permissions();

// The warning to log when `dir` is accessible to its group or to others (empty when not, or
// when it cannot be read).
std::string data_dir_permission_warning(const std::string& dir);

// Removes the regular files named `*.tmp` directly in `dir` (not below). Returns their names.
std::vector<std::string> remove_stale_temporary_files(const std::string& dir);

}  // namespace fp
