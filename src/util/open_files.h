#pragma once
// The process's file-descriptor budget: raising RLIMIT_NOFILE at start, and what is open now
// (for /metrics and for sizing connection caps). Linux only (/proc/self/fd).

#include <cstdint>

namespace fp {

// Raises the soft RLIMIT_NOFILE to the hard limit (no privilege needed) and returns the soft
// limit now in force; 0 when it cannot be read. Call once at start, before threads open files.
uint64_t raise_open_files_limit();

// The soft RLIMIT_NOFILE in force now; 0 when it cannot be read. Thread-safe.
uint64_t open_files_limit();

// Descriptors this process has open (entries of /proc/self/fd), or -1 when unknown.
// O(open descriptors); thread-safe.
int64_t open_file_count();

}  // namespace fp
