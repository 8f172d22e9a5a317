#pragma once
// Request bodies sent with `Content-Encoding: gzip` (Telegraf's content_encoding = "gzip",
// the InfluxDB client libraries), inflated with a hard bound so that a small "zip bomb" cannot
// make the server allocate more than the body limit.

#include <cstddef>
#include <string>
#include <string_view>

#include "util/result.h"

namespace fp::http {

// Inflates a gzip stream (RFC 1952; several members one after another are read as one body,
// as gzip(1) and Go's reader do) into at most `max_bytes` bytes.
// kTooLarge as soon as the output would exceed `max_bytes` (inflation stops there: memory use
// stays below max_bytes plus one 64 KiB chunk); kMalformed for a bad header, corrupt data, a
// CRC or length mismatch, a truncated stream, or bytes after the last member.
// Thread-safe (no shared state).
Result<std::string> gunzip(std::string_view in, size_t max_bytes);

}  // namespace fp::http
