#include "http/handlers/device_delete.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <mutex>
#include <vector>

#include "http/handlers/api_context.h"
#include "kpi/kpi_series_keys.h"
#include "storage/catalog/catalog.h"
#include "storage/fs/posix_file_system.h"
#include "storage/tsdb/store_files.h"
#include "storage/tsdb/time_series_store.h"

namespace fp::http {
namespace {

constexpr const char* kJournal = "device-deletions";

struct Intent {
  std::string device;
  bool purge = false;
  int64_t at_ms = 0;
};

// One line per intent: "<at ms> <0|1> <device id as hex>" (hex: any id fits on a line).
std::string encode(const std::vector<Intent>& intents) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const Intent& i : intents) {
    out += std::to_string(i.at_ms) + (i.purge ? " 1 " : " 0 ");
    for (unsigned char c : i.device) {
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
    out += '\n';
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Lines that do not parse are skipped (the file is only ever replaced whole, so there are
// none unless someone edited it).
std::vector<Intent> decode(std::string_view text) {
  std::vector<Intent> out;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    Intent i;
    const size_t a = line.find(' ');
    if (a == std::string_view::npos || line.size() < a + 3 || line[a + 2] != ' ') continue;
    auto [p, ec] = std::from_chars(line.data(), line.data() + a, i.at_ms);
    if (ec != std::errc() || p != line.data() + a) continue;
    i.purge = line[a + 1] == '1';
    const std::string_view hex = line.substr(a + 3);
    bool ok = hex.size() % 2 == 0 && !hex.empty();
    for (size_t k = 0; ok && k < hex.size(); k += 2) {
      const int hi = hex_digit(hex[k]), lo = hex_digit(hex[k + 1]);
      ok = hi >= 0 && lo >= 0;
      i.device.push_back(static_cast<char>(hi * 16 + lo));
    }
    if (ok) out.push_back(std::move(i));
  }
  return out;
}

// The journal is small (deletions in flight) and rewritten whole; one mutex orders the
// rewrites of this process.
std::mutex journal_mu;

std::vector<Intent> read_journal(const std::string& data_dir) {
  FileSystem& fs = PosixFileSystem::instance();
  const std::string path = join_path(data_dir, kJournal);
  if (!fs.exists(path)) return {};
  auto f = fs.map_file(path);
  if (!f.ok()) return {};  // an empty file does not map: no intents
  return decode((*f)->bytes());
}

Status write_journal(const std::string& data_dir, const std::vector<Intent>& intents) {
  return tsdb::write_file_atomically(PosixFileSystem::instance(), data_dir, kJournal,
                                     encode(intents));
}

Status clear_intent(const std::string& data_dir, const std::string& id) {
  std::lock_guard lock(journal_mu);
  std::vector<Intent> intents = read_journal(data_dir);
  std::erase_if(intents, [&](const Intent& i) { return i.device == id; });
  return write_journal(data_dir, intents);
}

}  // namespace

Status begin_device_delete(ApiContext& ctx, const std::string& id, bool purge) {
  auto d = ctx.catalog.get_device(id);
  if (!d.ok()) return d.status();
  std::lock_guard lock(journal_mu);
  std::vector<Intent> intents = read_journal(ctx.data_dir);
  std::erase_if(intents, [&](const Intent& i) { return i.device == id; });
  intents.push_back({id, purge, ctx.clock.now_ms()});
  return write_journal(ctx.data_dir, intents);
}

Status end_device_delete(ApiContext& ctx, const std::string& id) {
  Status s = ctx.catalog.delete_device(id);
  if (!s.ok() && s.code() != StatusCode::kNotFound) return s;  // the intent stays: retried
  FP_RETURN_IF_ERROR(clear_intent(ctx.data_dir, id));
  return s;
}

namespace {

Status finish_all(const std::string& data_dir, Catalog& catalog, tsdb::TimeSeriesStore& store,
                  std::unordered_map<std::string, int64_t>& replay_seen) {
  const std::vector<Intent> intents = read_journal(data_dir);
  for (const Intent& i : intents) {
    auto d = catalog.get_device(i.device);
    if (!d.ok() && d.status().code() != StatusCode::kNotFound) return d.status();
    // No row: it was deleted in step 3, after the removal was durable. A row created at or
    // after the intent: the device was deleted and created again. Either way: done.
    const bool interrupted = d.ok() && d->created_at_ms < i.at_ms;
    if (interrupted) {
      Status s = i.purge ? store.log_delete_device(i.device) : store.log_forget_device(i.device);
      for (const std::string& key : kpi_keys::keys_of_device(i.device))
        if (s.ok()) s = store.log_delete_device(key);
      if (s.ok()) s = store.commit();
      FP_RETURN_IF_ERROR(s);
      for (const std::string& key : kpi_keys::keys_of_device(i.device))
        store.apply_delete_device(key);
      if (i.purge) store.apply_delete_device(i.device);
      replay_seen.erase(i.device);
      s = catalog.delete_device(i.device);
      if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
    }
    spdlog::warn("event=device_delete_finished device={} interrupted={} purge={}", i.device,
                 interrupted, i.purge);
  }
  if (intents.empty()) return Status::Ok();
  std::lock_guard lock(journal_mu);
  return write_journal(data_dir, {});
}

}  // namespace

Status finish_device_deletes(const std::string& data_dir, Catalog& catalog,
                             tsdb::TimeSeriesStore& store,
                             std::unordered_map<std::string, int64_t>& replay_seen) {
  Status s = finish_all(data_dir, catalog, store, replay_seen);
  if (!s.ok())
    spdlog::critical(
        "event=startup_failed reason=\"cannot finish the device deletions a crash interrupted: "
        "{}\"",
        s.message());
  return s;
}

}  // namespace fp::http
