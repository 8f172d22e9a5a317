#include "storage/catalog/sqlite_catalog.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <charconv>
#include <utility>

#include "storage/catalog/migrations.h"
#include "storage/catalog/queued_catalog.h"

namespace fp {

using sqlite::Db;
using sqlite::Statement;
using sqlite::Transaction;

std::string_view to_string(ApiRole r) {
  switch (r) {
    case ApiRole::kWrite:
      return "write";
    case ApiRole::kAdmin:
      return "admin";
    case ApiRole::kRead:
      break;
  }
  return "read";
}

std::optional<ApiRole> parse_api_role(std::string_view s) {
  if (s == "read") return ApiRole::kRead;
  if (s == "write") return ApiRole::kWrite;
  if (s == "admin") return ApiRole::kAdmin;
  return std::nullopt;
}

Result<std::unique_ptr<Catalog>> Catalog::open(const std::string& path, const Clock& clock) {
  Result<std::unique_ptr<QueuedCatalog>> c = QueuedCatalog::open(path, clock);
  if (!c.ok()) return c.status();
  return std::unique_ptr<Catalog>(std::move(c).value());
}

namespace {

// Column order shared by read_device() and bind_device().
constexpr std::string_view kDeviceColumns =
    "device_id, name, type, location, metadata, config, status, status_reason, last_seen, "
    "battery_level, signal_strength, lat, lon, created_at, updated_at";
constexpr std::string_view kDeviceParams =
    "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15";

Device read_device(const Statement& st) {
  Device d;
  d.device_id = st.text(0);
  d.name = st.text(1);
  d.type = st.text(2);
  d.location = st.text(3);
  d.metadata_json = st.text(4);
  d.config_json = st.text(5);
  d.status = parse_device_status(st.text(6)).value_or(DeviceStatus::kUnknown);
  d.status_reason = st.text(7);
  d.last_seen_ms = st.opt_int64(8);
  d.battery_level = st.opt_real(9);
  d.signal_strength = st.opt_real(10);
  if (!st.is_null(11) && !st.is_null(12)) d.geo = GeoPoint{st.real(11), st.real(12)};
  d.created_at_ms = st.int64(13);
  d.updated_at_ms = st.int64(14);
  return d;
}

// Binds `d` to ?1..?15 in kDeviceColumns order; zero timestamps become `now_ms`.
void bind_device(Statement& st, const Device& d, int64_t now_ms) {
  std::optional<double> lat, lon;
  if (d.geo) {
    lat = d.geo->lat;
    lon = d.geo->lon;
  }
  st.bind(1, d.device_id).bind(2, d.name).bind(3, d.type).bind(4, d.location);
  st.bind(5, d.metadata_json).bind(6, d.config_json).bind(7, to_string(d.status));
  st.bind(8, d.status_reason).bind(9, d.last_seen_ms).bind(10, d.battery_level);
  st.bind(11, d.signal_strength).bind(12, lat).bind(13, lon);
  st.bind(14, d.created_at_ms != 0 ? d.created_at_ms : now_ms);
  st.bind(15, d.updated_at_ms != 0 ? d.updated_at_ms : now_ms);
}

std::string insert_device_sql(std::string_view verb) {
  return std::string(verb) + " INTO devices (" + std::string(kDeviceColumns) + ") VALUES (" +
         std::string(kDeviceParams) + ")";
}

// A heartbeat's live fields: NULL parameters leave their column alone; name and location only
// fill empty ones.
constexpr std::string_view kLiveUpdateSql = R"sql(
    UPDATE devices SET
      last_seen = ?2,
      battery_level = coalesce(?3, battery_level),
      signal_strength = coalesce(?4, signal_strength),
      lat = coalesce(?5, lat), lon = coalesce(?6, lon),
      name = CASE WHEN name = '' THEN coalesce(?7, name) ELSE name END,
      location = CASE WHEN location = '' THEN coalesce(?8, location) ELSE location END
    WHERE device_id = ?1)sql";

void bind_live_update(Statement& st, const DeviceLiveUpdate& u) {
  std::optional<double> lat, lon;
  if (u.geo) {
    lat = u.geo->lat;
    lon = u.geo->lon;
  }
  st.bind(1, u.device_id).bind(2, u.last_seen_ms).bind(3, u.battery_level);
  st.bind(4, u.signal_strength).bind(5, lat).bind(6, lon).bind(7, u.name).bind(8, u.location);
}

// History rows only for devices that exist, so a device deleted meanwhile leaves none behind.
constexpr std::string_view kInsertHistorySql = R"sql(
    INSERT INTO status_history (device_id, from_status, to_status, reason, at)
    SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM devices WHERE device_id = ?1))sql";
constexpr std::string_view kSetStatusSql =
    "UPDATE devices SET status = ?2, status_reason = ?3 WHERE device_id = ?1";

void bind_history(Statement& st, const StatusTransition& t) {
  st.bind(1, t.device_id).bind(2, to_string(t.from)).bind(3, to_string(t.to));
  st.bind(4, t.reason).bind(5, t.at_ms);
}

void bind_status(Statement& st, const StatusTransition& t) {
  st.bind(1, t.device_id).bind(2, to_string(t.to)).bind(3, t.reason);
}

Result<std::vector<Device>> collect_devices(Statement& st) {
  std::vector<Device> out;
  for (;;) {
    Result<bool> row = st.step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back(read_device(st));
  }
}

// Prepares `sql` once and runs it for each of `rows`, bound by `bind(statement, row)`.
template <typename T, typename Bind>
Status run_for_each(Db& db, std::string_view sql, std::span<const T> rows, Bind bind) {
  if (rows.empty()) return Status::Ok();
  Result<Statement> st = db.prepare(sql);
  if (!st.ok()) return st.status();
  for (const T& row : rows) {
    st->reset();
    bind(*st, row);
    if (Status s = st->run(); !s.ok()) return s;
  }
  return Status::Ok();
}

// Runs `sql` with ?1 bound to `id`; returns the number of rows it changed.
Result<int64_t> run_with_id(Db& db, std::string_view sql, const std::string& id) {
  Result<Statement> st = db.prepare(sql);
  if (!st.ok()) return st.status();
  if (Status s = st->bind(1, id).run(); !s.ok()) return s;
  return db.changes();
}

// kInvalidArgument unless `json` (when set) is a JSON object; checked by SQLite's json1.
Status check_json_object(Db& db, const std::optional<std::string>& json, std::string_view field) {
  if (!json) return Status::Ok();
  Result<Statement> st =
      db.prepare("SELECT CASE WHEN json_valid(?1) THEN json_type(?1) = 'object' ELSE 0 END");
  if (!st.ok()) return st.status();
  Result<bool> row = st->bind(1, *json).step();
  if (!row.ok()) return row.status();
  if (st->int64(0) != 1)
    return Status::InvalidArgument(std::string(field) + " must be a JSON object");
  return Status::Ok();
}

// Cursors are "c1" + lowercase hex of the last device_id returned.
constexpr std::string_view kCursorPrefix = "c1";

std::string encode_cursor(std::string_view id) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(kCursorPrefix);
  for (unsigned char c : id) {
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}

std::optional<std::string> decode_cursor(std::string_view cursor) {
  if (!cursor.starts_with(kCursorPrefix)) return std::nullopt;
  cursor.remove_prefix(kCursorPrefix.size());
  if (cursor.empty() || cursor.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string id;
  for (size_t i = 0; i < cursor.size(); i += 2) {
    int hi = nibble(cursor[i]), lo = nibble(cursor[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    id += static_cast<char>(hi << 4 | lo);
  }
  return id;
}

// ASCII only, like SQLite's lower() without ICU.
std::string ascii_lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

}  // namespace

// --- Connections ---

Result<std::unique_ptr<SqliteCatalog>> SqliteCatalog::open(const std::string& path,
                                                           const Clock& clock) {
  Result<Db> db = Db::open(path);
  if (!db.ok()) return db.status();
  Result<int> version = catalog::migrate(*db);
  if (!version.ok()) return version.status();
  return std::unique_ptr<SqliteCatalog>(
      new SqliteCatalog(path, clock, std::move(db).value(), *version));
}

SqliteCatalog::SqliteCatalog(std::string path, const Clock& clock, Db writer, int version)
    : path_(std::move(path)), clock_(clock), schema_version_(version), writer_(std::move(writer)) {}

Result<SqliteCatalog::Reader> SqliteCatalog::acquire_reader() {
  std::unique_lock lock(pool_mu_);
  pool_cv_.wait(lock, [&] { return !idle_readers_.empty() || open_readers_ < kMaxReaders; });
  if (!idle_readers_.empty()) {
    std::unique_ptr<Db> db = std::move(idle_readers_.back());
    idle_readers_.pop_back();
    return Reader(db.release(), ReaderReturn{this});
  }
  ++open_readers_;
  lock.unlock();  // opening touches the file system; do not hold up other readers
  Result<Db> db = Db::open(path_);
  Status s = db.ok() ? db->exec("PRAGMA query_only=ON") : db.status();
  if (!s.ok()) {
    lock.lock();
    --open_readers_;
    lock.unlock();
    pool_cv_.notify_one();
    return s;
  }
  return Reader(std::make_unique<Db>(std::move(db).value()).release(), ReaderReturn{this});
}

void SqliteCatalog::release_reader(Db* db) {
  {
    std::lock_guard lock(pool_mu_);
    idle_readers_.emplace_back(db);
  }
  pool_cv_.notify_one();
}

// --- Devices ---

Status SqliteCatalog::create_device(const Device& d) {
  std::lock_guard lock(writer_mu_);
  Status s = check_json_object(writer_, d.metadata_json, "metadata");
  if (s.ok()) s = check_json_object(writer_, d.config_json, "config");
  if (!s.ok()) return s;
  Result<Statement> st = writer_.prepare(insert_device_sql("INSERT"));
  if (!st.ok()) return st.status();
  bind_device(*st, d, clock_.now_ms());
  s = st->run();
  if (s.code() == StatusCode::kAlreadyExists) {
    return Status::AlreadyExists("device '" + d.device_id + "' already exists");
  }
  return s;
}

Result<Device> SqliteCatalog::get_device(const std::string& id) {
  Result<Reader> r = acquire_reader();
  if (!r.ok()) return r.status();
  Result<Statement> st = (*r)->prepare(std::string("SELECT ") + std::string(kDeviceColumns) +
                                       " FROM devices WHERE device_id = ?1");
  if (!st.ok()) return st.status();
  Result<bool> row = st->bind(1, id).step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("device '" + id + "' not found");
  Device d = read_device(*st);
  if (Status a = read_attributes(**r, d); !a.ok()) return a;
  return d;
}

Result<Device> SqliteCatalog::update_device(const std::string& id, const DeviceUpdate& u) {
  std::lock_guard lock(writer_mu_);
  Status s = check_json_object(writer_, u.metadata_json, "metadata");
  if (s.ok()) s = check_json_object(writer_, u.config_json, "config");
  if (!s.ok()) return s;
  Result<Statement> st = writer_.prepare(std::string(R"sql(
      UPDATE devices SET
        name = coalesce(?2, name), type = coalesce(?3, type), location = coalesce(?4, location),
        metadata = CASE WHEN ?5 IS NULL THEN metadata WHEN ?7 THEN json_patch(metadata, ?5)
                        ELSE ?5 END,
        config = CASE WHEN ?6 IS NULL THEN config WHEN ?7 THEN json_patch(config, ?6)
                      ELSE ?6 END,
        updated_at = ?8
      WHERE device_id = ?1 RETURNING )sql") +
                                         std::string(kDeviceColumns));
  if (!st.ok()) return st.status();
  st->bind(1, id).bind(2, u.name).bind(3, u.type).bind(4, u.location);
  st->bind(5, u.metadata_json).bind(6, u.config_json).bind(7, u.merge_objects ? 1 : 0);
  st->bind(8, clock_.now_ms());
  Result<std::vector<Device>> rows = collect_devices(*st);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return Status::NotFound("device '" + id + "' not found");
  return std::move(rows->front());
}

Status SqliteCatalog::delete_device(const std::string& id) {
  std::lock_guard lock(writer_mu_);
  Result<Transaction> tx = Transaction::begin(writer_);
  if (!tx.ok()) return tx.status();
  Result<int64_t> deleted = run_with_id(writer_, "DELETE FROM devices WHERE device_id = ?1", id);
  if (!deleted.ok()) return deleted.status();
  if (*deleted == 0) return Status::NotFound("device '" + id + "' not found");
  deleted = run_with_id(writer_, "DELETE FROM status_history WHERE device_id = ?1", id);
  if (!deleted.ok()) return deleted.status();
  return tx->commit();
}

namespace {

// Each sort key: its name in the API and how it reads in SQL (NULLs become the lowest
// value, so keyset comparisons work).
struct SortColumn {
  DeviceSortKey key;
  std::string_view name;
  std::string_view expr;
  bool numeric;
};

constexpr SortColumn kSortColumns[] = {
    {DeviceSortKey::kDeviceId, "device_id", "device_id", false},
    {DeviceSortKey::kName, "name", "name", false},
    {DeviceSortKey::kType, "type", "type", false},
    {DeviceSortKey::kLocation, "location", "location", false},
    {DeviceSortKey::kStatus, "status", "status", false},
    {DeviceSortKey::kLastSeen, "last_seen", "COALESCE(last_seen, -1e300)", true},
    {DeviceSortKey::kBatteryLevel, "battery_level", "COALESCE(battery_level, -1e300)", true},
    {DeviceSortKey::kSignalStrength, "signal_strength", "COALESCE(signal_strength, -1e300)", true},
};

const SortColumn& sort_column(DeviceSortKey k) {
  for (const SortColumn& c : kSortColumns)
    if (c.key == k) return c;
  return kSortColumns[0];
}

std::string sort_value_text(DeviceSortKey k, const Device& d) {
  auto num = [](std::optional<double> v) { return fmt::format("{:.17g}", v.value_or(-1e300)); };
  switch (k) {
    case DeviceSortKey::kDeviceId:
      return d.device_id;
    case DeviceSortKey::kName:
      return d.name;
    case DeviceSortKey::kType:
      return d.type;
    case DeviceSortKey::kLocation:
      return d.location;
    case DeviceSortKey::kStatus:
      return std::string(to_string(d.status));
    case DeviceSortKey::kLastSeen:
      return num(d.last_seen_ms ? std::optional<double>(static_cast<double>(*d.last_seen_ms))
                                : std::nullopt);
    case DeviceSortKey::kBatteryLevel:
      return num(d.battery_level);
    case DeviceSortKey::kSignalStrength:
      return num(d.signal_strength);
  }
  return d.device_id;
}

// The filters' conditions (" AND ..."), bound by bind_filter() to ?2..?5.
void append_filter_sql(const DeviceFilter& f, std::string& sql) {
  if (f.status) sql += " AND status = ?2";
  if (f.type) sql += " AND type = ?3";
  if (f.location) sql += " AND location = ?4";
  if (f.q) {
    sql +=
        " AND (instr(lower(device_id), ?5) OR instr(lower(name), ?5) OR "
        "instr(lower(type), ?5) OR instr(lower(location), ?5))";
  }
}

void bind_filter(const DeviceFilter& f, sqlite::Statement& st) {
  if (f.status) st.bind(2, to_string(*f.status));
  if (f.type) st.bind(3, *f.type);
  if (f.location) st.bind(4, *f.location);
  if (f.q) st.bind(5, ascii_lower(*f.q));
}

// The default order keeps the plain cursor ("c1" + hex id). Other orders put the order, the
// last sort value and the last id in the cursor, so a cursor of another order is refused.
std::string order_tag(const DeviceFilter& f) {
  return std::string(to_string(f.sort)) + (f.descending ? ":desc" : ":asc");
}

}  // namespace

std::optional<DeviceSortKey> parse_device_sort_key(std::string_view s) {
  for (const SortColumn& c : kSortColumns)
    if (c.name == s) return c.key;
  return std::nullopt;
}

std::string_view to_string(DeviceSortKey k) {
  return sort_column(k).name;
}

Result<DevicePage> SqliteCatalog::list_devices(const DeviceFilter& f, const std::string& cursor,
                                               int limit) {
  limit = std::clamp(limit, 1, 1000);
  const bool plain = f.sort == DeviceSortKey::kDeviceId && !f.descending;
  const SortColumn& col = sort_column(f.sort);
  std::optional<std::string> after_key, after_id;
  if (!cursor.empty()) {
    std::optional<std::string> payload = decode_cursor(cursor);
    if (!payload) return Status::InvalidArgument("invalid cursor");
    if (plain) {
      after_id = std::move(*payload);
    } else {
      // order_tag \x1f sort value \x1f device_id
      const size_t a = payload->find('\x1f');
      const size_t b = a == std::string::npos ? a : payload->find('\x1f', a + 1);
      if (b == std::string::npos || payload->substr(0, a) != order_tag(f))
        return Status::InvalidArgument("invalid cursor (it belongs to another sort order)");
      after_key = payload->substr(a + 1, b - a - 1);
      after_id = payload->substr(b + 1);
    }
  }
  // Unused parameter numbers are simply left unbound (NULL).
  std::string sql = std::string("SELECT ") + std::string(kDeviceColumns) + " FROM devices WHERE 1";
  const char* cmp = f.descending ? "<" : ">";
  if (after_key) {
    // "(expr, device_id) > (?7, ?1)": a row value seeks the (column, device_id) index on both
    // columns; SQLite does not seek an expression index with one, so the numeric orders
    // (COALESCE) seek to expr >= ?7 and filter the rows tied with the cursor's value.
    if (col.numeric)
      sql += fmt::format(" AND {0} {1}= ?7 AND ({0} {1} ?7 OR device_id {1} ?1)", col.expr, cmp);
    else
      sql += fmt::format(" AND ({0}, device_id) {1} (?7, ?1)", col.expr, cmp);
  } else if (after_id) {
    sql += fmt::format(" AND device_id {} ?1", cmp);
  }
  append_filter_sql(f, sql);
  const char* dir = f.descending ? "DESC" : "ASC";
  if (f.sort == DeviceSortKey::kDeviceId)
    sql += fmt::format(" ORDER BY device_id {} LIMIT ?6", dir);
  else
    sql += fmt::format(" ORDER BY {0} {1}, device_id {1} LIMIT ?6", col.expr, dir);

  Result<Reader> r = acquire_reader();
  if (!r.ok()) return r.status();
  Result<Statement> st = (*r)->prepare(sql);
  if (!st.ok()) return st.status();
  st->bind(6, limit + 1);  // one extra row tells whether another page exists
  if (after_id) st->bind(1, *after_id);
  if (after_key) {
    if (col.numeric) {
      double v = 0;
      auto [p, ec] = std::from_chars(after_key->data(), after_key->data() + after_key->size(), v);
      if (ec != std::errc() || p != after_key->data() + after_key->size())
        return Status::InvalidArgument("invalid cursor");
      st->bind(7, v);
    } else {
      st->bind(7, *after_key);
    }
  }
  bind_filter(f, *st);
  Result<std::vector<Device>> rows = collect_devices(*st);
  if (!rows.ok()) return rows.status();

  DevicePage page;
  page.devices = std::move(rows).value();
  if (page.devices.size() > static_cast<size_t>(limit)) {
    page.devices.pop_back();
    const Device& last = page.devices.back();
    page.next_cursor = plain ? encode_cursor(last.device_id)
                             : encode_cursor(order_tag(f) + '\x1f' + sort_value_text(f.sort, last) +
                                             '\x1f' + last.device_id);
  }
  return page;
}

Result<std::vector<DeviceLabels>> SqliteCatalog::list_device_labels(const DeviceFilter& f,
                                                                    const std::string& after_id,
                                                                    size_t limit,
                                                                    bool with_labels) {
  std::string sql = with_labels ? "SELECT device_id, type, location" : "SELECT device_id";
  sql += " FROM devices WHERE device_id > ?1";
  append_filter_sql(f, sql);
  sql += " ORDER BY device_id LIMIT ?6";
  Result<Reader> r = acquire_reader();
  if (!r.ok()) return r.status();
  Result<Statement> st = (*r)->prepare(sql);
  if (!st.ok()) return st.status();
  st->bind(1, after_id).bind(6, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
  bind_filter(f, *st);
  std::vector<DeviceLabels> out;
  for (;;) {
    Result<bool> row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    DeviceLabels& d = out.emplace_back();
    d.device_id = st->text(0);
    if (with_labels) {
      d.type = st->text(1);
      d.location = st->text(2);
    }
  }
}

Result<std::vector<Device>> SqliteCatalog::load_all_devices() {
  Result<Reader> r = acquire_reader();
  if (!r.ok()) return r.status();
  Result<Statement> st = (*r)->prepare(std::string("SELECT ") + std::string(kDeviceColumns) +
                                       " FROM devices ORDER BY device_id");
  if (!st.ok()) return st.status();
  return collect_devices(*st);
}

Result<std::vector<Device>> SqliteCatalog::load_seen_devices(bool few) {
  Result<Reader> r = acquire_reader();
  if (!r.ok()) return r.status();
  // With few: two index seeks (devices_by_last_seen, devices_by_status) instead of a scan of
  // every row, so a fleet of registered idle devices costs nothing here; the rows come in
  // table order, as the scan gives them.
  Result<Statement> st = (*r)->prepare(
      std::string("SELECT ") + std::string(kDeviceColumns) +
      (few ? " FROM devices WHERE rowid IN (SELECT rowid FROM devices WHERE"
             " COALESCE(last_seen, -1e300) > -1e300 UNION SELECT rowid FROM devices WHERE"
             " status < 'unknown' OR status > 'unknown') ORDER BY rowid"
           : " FROM devices WHERE last_seen IS NOT NULL OR status != 'unknown'"));
  if (!st.ok()) return st.status();
  return collect_devices(*st);
}

Result<std::vector<Catalog::UnseenDevices>> SqliteCatalog::count_unseen_devices_by_type(
    int64_t before_ms) {
  Result<Reader> r = acquire_reader();
  if (!r.ok()) return r.status();
  Result<Statement> st = (*r)->prepare(
      "SELECT type, count(*), sum(created_at < ?1) FROM devices "
      "WHERE last_seen IS NULL AND status = 'unknown' GROUP BY type ORDER BY type");
  if (!st.ok()) return st.status();
  st->bind(1, before_ms);
  std::vector<UnseenDevices> out;
  for (;;) {
    Result<bool> row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back({st->text(0), st->int64(1), st->int64(2)});
  }
}

Result<int64_t> SqliteCatalog::count_devices() {
  Result<Reader> r = acquire_reader();
  if (!r.ok()) return r.status();
  Result<Statement> st = (*r)->prepare("SELECT count(*) FROM devices");
  if (!st.ok()) return st.status();
  Result<bool> row = st->step();
  if (!row.ok()) return row.status();
  return st->int64(0);
}

// --- Reports and history ---

Status SqliteCatalog::apply_reports(std::span<const Device> new_devices,
                                    std::span<const DeviceLiveUpdate> updates,
                                    std::span<const StatusTransition> transitions) {
  return apply_reports_and_attributes(new_devices, updates, transitions, {});
}

Status SqliteCatalog::apply_reports_and_attributes(std::span<const Device> new_devices,
                                                   std::span<const DeviceLiveUpdate> updates,
                                                   std::span<const StatusTransition> transitions,
                                                   std::span<const DeviceAttribute> attributes) {
  if (new_devices.empty() && updates.empty() && transitions.empty() && attributes.empty())
    return Status::Ok();
  const int64_t now = clock_.now_ms();
  std::lock_guard lock(writer_mu_);
  Result<Transaction> tx = Transaction::begin(writer_);
  if (!tx.ok()) return tx.status();

  Status s = run_for_each(writer_, insert_device_sql("INSERT OR IGNORE"), new_devices,
                          [&](Statement& st, const Device& d) { bind_device(st, d, now); });
  if (s.ok()) s = run_for_each(writer_, kLiveUpdateSql, updates, bind_live_update);
  if (s.ok()) s = run_for_each(writer_, kInsertHistorySql, transitions, bind_history);
  if (s.ok()) s = run_for_each(writer_, kSetStatusSql, transitions, bind_status);
  if (s.ok()) s = write_attributes_locked(attributes);
  if (!s.ok()) return s;
  return tx->commit();
}

Result<std::vector<StatusTransition>> SqliteCatalog::status_history(const std::string& id,
                                                                    int64_t since_ms,
                                                                    int64_t until_ms, int limit) {
  Result<Reader> r = acquire_reader();
  if (!r.ok()) return r.status();
  Result<Statement> exists = (*r)->prepare("SELECT 1 FROM devices WHERE device_id = ?1");
  if (!exists.ok()) return exists.status();
  Result<bool> found = exists->bind(1, id).step();
  if (!found.ok()) return found.status();
  if (!*found) return Status::NotFound("device '" + id + "' not found");

  // The newest `limit` rows in the window, then turned oldest first.
  Result<Statement> st = (*r)->prepare(R"sql(
      SELECT device_id, from_status, to_status, reason, at FROM (
        SELECT * FROM status_history WHERE device_id = ?1 AND at BETWEEN ?2 AND ?3
        ORDER BY at DESC, id DESC LIMIT ?4)
      ORDER BY at, id)sql");
  if (!st.ok()) return st.status();
  st->bind(1, id).bind(2, since_ms).bind(3, until_ms).bind(4, std::max(limit, 0));
  std::vector<StatusTransition> out;
  for (;;) {
    Result<bool> row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    StatusTransition t;
    t.device_id = st->text(0);
    t.from = parse_device_status(st->text(1)).value_or(DeviceStatus::kUnknown);
    t.to = parse_device_status(st->text(2)).value_or(DeviceStatus::kUnknown);
    t.reason = st->text(3);
    t.at_ms = st->int64(4);
    out.push_back(std::move(t));
  }
}

// --- API keys and wipe ---

Status SqliteCatalog::put_api_key(const ApiKeyRecord& k) {
  std::lock_guard lock(writer_mu_);
  // Upsert by id; unlike INSERT OR REPLACE this never silently drops a row whose key_hash
  // collides, it fails with kAlreadyExists.
  Result<Statement> st = writer_.prepare(R"sql(
      INSERT INTO api_keys (id, name, role, key_hash, created_at, revoked)
      VALUES (?1, ?2, ?3, ?4, ?5, ?6)
      ON CONFLICT (id) DO UPDATE SET name = excluded.name, role = excluded.role,
        key_hash = excluded.key_hash, created_at = excluded.created_at,
        revoked = excluded.revoked)sql");
  if (!st.ok()) return st.status();
  st->bind(1, k.id).bind(2, k.name).bind(3, to_string(k.role)).bind(4, k.key_hash);
  st->bind(5, k.created_at_ms != 0 ? k.created_at_ms : clock_.now_ms()).bind(6, k.revoked ? 1 : 0);
  return st->run();
}

Result<std::vector<ApiKeyRecord>> SqliteCatalog::list_api_keys() {
  Result<Reader> r = acquire_reader();
  if (!r.ok()) return r.status();
  Result<Statement> st = (*r)->prepare(
      "SELECT id, name, role, key_hash, created_at, revoked FROM api_keys ORDER BY created_at, id");
  if (!st.ok()) return st.status();
  std::vector<ApiKeyRecord> out;
  for (;;) {
    Result<bool> row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    std::optional<ApiRole> role = parse_api_role(st->text(2));
    if (!role) return Status::Corruption("api key '" + st->text(0) + "' has an unknown role");
    out.push_back(ApiKeyRecord{st->text(0), st->text(1), *role, st->text(3), st->int64(4),
                               st->int64(5) != 0});
  }
}

Status SqliteCatalog::revoke_api_key(const std::string& id) {
  std::lock_guard lock(writer_mu_);
  Result<int64_t> changed =
      run_with_id(writer_, "UPDATE api_keys SET revoked = 1 WHERE id = ?1", id);
  if (!changed.ok()) return changed.status();
  if (*changed == 0) return Status::NotFound("api key '" + id + "' not found");
  return Status::Ok();
}

Status SqliteCatalog::put_device_token(const DeviceTokenRecord& t) {
  std::lock_guard lock(writer_mu_);
  Result<Statement> st = writer_.prepare(R"sql(
      INSERT INTO device_tokens (id, device_id, name, token_hash, created_at, revoked)
      VALUES (?1, ?2, ?3, ?4, ?5, ?6))sql");
  if (!st.ok()) return st.status();
  st->bind(1, t.id).bind(2, t.device_id).bind(3, t.name).bind(4, t.token_hash);
  st->bind(5, t.created_at_ms != 0 ? t.created_at_ms : clock_.now_ms()).bind(6, t.revoked ? 1 : 0);
  return st->run();
}

Result<std::vector<DeviceTokenRecord>> SqliteCatalog::list_device_tokens(
    const std::string& device_id) {
  Result<Reader> r = acquire_reader();
  if (!r.ok()) return r.status();
  Result<Statement> st = (*r)->prepare(R"sql(
      SELECT id, device_id, name, token_hash, created_at, revoked FROM device_tokens
      WHERE ?1 = '' OR device_id = ?1 ORDER BY created_at, id)sql");
  if (!st.ok()) return st.status();
  st->bind(1, device_id);
  std::vector<DeviceTokenRecord> out;
  for (;;) {
    Result<bool> row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back(DeviceTokenRecord{st->text(0), st->text(1), st->text(2), st->text(3),
                                    st->int64(4), st->int64(5) != 0});
  }
}

Status SqliteCatalog::revoke_device_token(const std::string& device_id, const std::string& id) {
  std::lock_guard lock(writer_mu_);
  Result<Statement> st =
      writer_.prepare("UPDATE device_tokens SET revoked = 1 WHERE id = ?1 AND device_id = ?2");
  if (!st.ok()) return st.status();
  st->bind(1, id).bind(2, device_id);
  if (Status s = st->run(); !s.ok()) return s;
  if (writer_.changes() == 0)
    return Status::NotFound("device '" + device_id + "' has no token '" + id + "'");
  return Status::Ok();
}

Status SqliteCatalog::delete_all_data() {
  std::lock_guard lock(writer_mu_);
  Result<Transaction> tx = Transaction::begin(writer_);
  if (!tx.ok()) return tx.status();
  if (Status s =
          writer_.exec("DELETE FROM status_history; DELETE FROM devices; DELETE FROM alerts; "
                       "DELETE FROM dead_letters; DELETE FROM mqtt_push_queue; "
                       "DELETE FROM webhook_queue;");
      !s.ok())
    return s;
  return tx->commit();
}

void SqliteCatalog::run_grouped(std::span<const std::function<Status()>> ops,
                                std::vector<Status>& results) {
  results.assign(ops.size(), Status::Ok());
  std::lock_guard lock(writer_mu_);
  auto fail_all = [&](const Status& s) {
    for (Status& r : results)
      if (r.ok()) r = s;
  };
  if (Status s = writer_.exec("BEGIN IMMEDIATE"); !s.ok()) return fail_all(s);
  for (size_t i = 0; i < ops.size(); ++i) {
    if (Status s = writer_.exec("SAVEPOINT fp_group"); !s.ok()) {
      results[i] = s;
      continue;
    }
    results[i] = ops[i]();
    if (sqlite3_get_autocommit(writer_.handle())) {
      // SQLite rolled the whole transaction back (I/O error, disk full): nothing of the group
      // is stored, so no op may report success.
      Status lost =
          results[i].ok() ? Status::IoError("catalog transaction rolled back") : results[i];
      for (size_t j = i + 1; j < ops.size(); ++j) results[j] = lost;
      return fail_all(lost);
    }
    const bool ok = results[i].ok();
    Status s = writer_.exec(ok ? "RELEASE fp_group" : "ROLLBACK TO fp_group; RELEASE fp_group");
    if (!s.ok() && ok) results[i] = s;
  }
  if (Status s = writer_.exec("COMMIT"); !s.ok()) {
    if (!sqlite3_get_autocommit(writer_.handle())) (void)writer_.exec("ROLLBACK");
    fail_all(s);
  }
}

}  // namespace fp
