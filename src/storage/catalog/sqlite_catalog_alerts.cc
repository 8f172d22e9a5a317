// The alerting part of SqliteCatalog: rules, alerts, dead letters, settings, and the full
// status-history scan the fleet KPIs use.

#include <algorithm>

#include "storage/catalog/sqlite_catalog.h"

namespace fp {

using sqlite::Statement;

namespace {

constexpr std::string_view kAlertColumns =
    "id, rule_id, device_id, severity, state, message, value, started_at, acknowledged_at, "
    "acknowledged_by, note, resolved_at, resolved_by, updated_at, version, condition_at";

Alert read_alert(const Statement& st) {
  Alert a;
  a.id = st.int64(0);
  a.rule_id = st.text(1);
  a.device_id = st.text(2);
  a.severity = parse_severity(st.text(3)).value_or(Severity::kWarning);
  a.state = parse_alert_state(st.text(4)).value_or(AlertState::kFiring);
  a.message = st.text(5);
  a.value = st.opt_real(6);
  a.started_at_ms = st.int64(7);
  a.acknowledged_at_ms = st.opt_int64(8);
  a.acknowledged_by = st.text(9);
  a.note = st.text(10);
  a.resolved_at_ms = st.opt_int64(11);
  a.resolved_by = st.text(12);
  a.updated_at_ms = st.int64(13);
  a.version = st.int64(14);
  a.condition_at_ms = st.opt_int64(15).value_or(0);
  return a;
}

Result<std::vector<Alert>> collect_alerts(Statement& st) {
  std::vector<Alert> out;
  for (;;) {
    Result<bool> row = st.step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back(read_alert(st));
  }
}

constexpr std::string_view kDeadLetterColumns =
    "id, alert_id, rule_id, url, payload, attempts, last_error, created_at, failed_at";

DeadLetter read_dead_letter(const Statement& st) {
  DeadLetter d;
  d.id = st.int64(0);
  d.alert_id = st.int64(1);
  d.rule_id = st.text(2);
  d.url = st.text(3);
  d.payload = st.text(4);
  d.attempts = static_cast<int>(st.int64(5));
  d.last_error = st.text(6);
  d.created_at_ms = st.int64(7);
  d.failed_at_ms = st.int64(8);
  return d;
}

}  // namespace

Status SqliteCatalog::put_rule(const RuleRecord& r) {
  std::lock_guard lock(writer_mu_);
  Result<Statement> st = writer_.prepare(R"sql(
      INSERT INTO alert_rules (id, body, created_at, updated_at) VALUES (?1, ?2, ?3, ?4)
      ON CONFLICT (id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at)sql");
  if (!st.ok()) return st.status();
  return st->bind(1, r.id).bind(2, r.json).bind(3, r.created_at_ms).bind(4, r.updated_at_ms).run();
}

Status SqliteCatalog::delete_rule(const std::string& id) {
  std::lock_guard lock(writer_mu_);
  Result<Statement> st = writer_.prepare("DELETE FROM alert_rules WHERE id = ?1");
  if (!st.ok()) return st.status();
  if (Status s = st->bind(1, id).run(); !s.ok()) return s;
  if (writer_.changes() == 0) return Status::NotFound("rule '" + id + "' not found");
  return Status::Ok();
}

Result<std::vector<RuleRecord>> SqliteCatalog::list_rules() {
  Result<Reader> r = acquire_reader();
  if (!r.ok()) return r.status();
  Result<Statement> st =
      (*r)->prepare("SELECT id, body, created_at, updated_at FROM alert_rules ORDER BY id");
  if (!st.ok()) return st.status();
  std::vector<RuleRecord> out;
  for (;;) {
    Result<bool> row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back({st->text(0), st->text(1), st->int64(2), st->int64(3)});
  }
}

Status SqliteCatalog::put_alert(const Alert& a) {
  std::lock_guard lock(writer_mu_);
  return put_alert_locked(a);
}

Status SqliteCatalog::put_alert_locked(const Alert& a) {
  Result<Statement> st = writer_.prepare(
      "INSERT INTO alerts (" + std::string(kAlertColumns) +
      ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) "
      "ON CONFLICT (id) DO UPDATE SET severity = excluded.severity, state = excluded.state, "
      "message = excluded.message, value = excluded.value, "
      "acknowledged_at = excluded.acknowledged_at, acknowledged_by = excluded.acknowledged_by, "
      "note = excluded.note, resolved_at = excluded.resolved_at, "
      "resolved_by = excluded.resolved_by, updated_at = excluded.updated_at, "
      "version = excluded.version WHERE excluded.version > alerts.version");
  if (!st.ok()) return st.status();
  st->bind(1, a.id).bind(2, a.rule_id).bind(3, a.device_id).bind(4, to_string(a.severity));
  st->bind(5, to_string(a.state)).bind(6, a.message).bind(7, a.value).bind(8, a.started_at_ms);
  st->bind(9, a.acknowledged_at_ms).bind(10, a.acknowledged_by).bind(11, a.note);
  st->bind(12, a.resolved_at_ms).bind(13, a.resolved_by).bind(14, a.updated_at_ms);
  st->bind(15, a.version);
  if (a.condition_at_ms != 0) st->bind(16, a.condition_at_ms);  // unbound: NULL
  return st->run();
}

Result<Alert> SqliteCatalog::get_alert(int64_t id) {
  Result<Reader> r = acquire_reader();
  if (!r.ok()) return r.status();
  Result<Statement> st =
      (*r)->prepare("SELECT " + std::string(kAlertColumns) + " FROM alerts WHERE id = ?1");
  if (!st.ok()) return st.status();
  Result<bool> row = st->bind(1, id).step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("alert '" + std::to_string(id) + "' not found");
  return read_alert(*st);
}

Result<AlertPage> SqliteCatalog::list_alerts(const AlertQuery& q) {
  const int limit = std::clamp(q.limit, 1, 1000);
  // Unused parameter numbers stay unbound (NULL) and their conditions are left out.
  std::string sql = "SELECT " + std::string(kAlertColumns) + " FROM alerts WHERE 1";
  if (q.state) sql += " AND state = ?1";
  if (q.severity) sql += " AND severity = ?2";
  if (q.device_id) sql += " AND device_id = ?3";
  if (q.since_ms) sql += " AND started_at >= ?4";
  if (q.before_id) sql += " AND id < ?5";
  sql += " ORDER BY id DESC LIMIT ?6";
  Result<Reader> r = acquire_reader();
  if (!r.ok()) return r.status();
  Result<Statement> st = (*r)->prepare(sql);
  if (!st.ok()) return st.status();
  if (q.state) st->bind(1, to_string(*q.state));
  if (q.severity) st->bind(2, to_string(*q.severity));
  if (q.device_id) st->bind(3, *q.device_id);
  if (q.since_ms) st->bind(4, *q.since_ms);
  if (q.before_id) st->bind(5, *q.before_id);
  st->bind(6, limit + 1);
  Result<std::vector<Alert>> rows = collect_alerts(*st);
  if (!rows.ok()) return rows.status();
  AlertPage page;
  page.alerts = std::move(*rows);
  if (page.alerts.size() > static_cast<size_t>(limit)) {
    page.alerts.resize(static_cast<size_t>(limit));
    page.next_before = page.alerts.back().id;
  }
  return page;
}

Result<std::vector<Alert>> SqliteCatalog::load_open_alerts() {
  Result<Reader> r = acquire_reader();
  if (!r.ok()) return r.status();
  Result<Statement> st = (*r)->prepare("SELECT " + std::string(kAlertColumns) +
                                       " FROM alerts WHERE state != 'resolved' ORDER BY id");
  if (!st.ok()) return st.status();
  return collect_alerts(*st);
}

Result<int64_t> SqliteCatalog::max_alert_id() {
  Result<Reader> r = acquire_reader();
  if (!r.ok()) return r.status();
  Result<Statement> st = (*r)->prepare("SELECT COALESCE(MAX(id), 0) FROM alerts");
  if (!st.ok()) return st.status();
  Result<bool> row = st->step();
  if (!row.ok()) return row.status();
  return st->int64(0);
}

Result<int64_t> SqliteCatalog::put_dead_letter(const DeadLetter& d) {
  std::lock_guard lock(writer_mu_);
  return put_dead_letter_locked(d);
}

Result<int64_t> SqliteCatalog::put_dead_letter_locked(const DeadLetter& d) {
  Result<Statement> st =
      writer_.prepare("INSERT OR REPLACE INTO dead_letters (" + std::string(kDeadLetterColumns) +
                      ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  if (!st.ok()) return st.status();
  if (d.id > 0) st->bind(1, d.id);  // unbound (NULL) lets SQLite assign the next id
  st->bind(2, d.alert_id).bind(3, d.rule_id).bind(4, d.url).bind(5, d.payload);
  st->bind(6, d.attempts).bind(7, d.last_error).bind(8, d.created_at_ms).bind(9, d.failed_at_ms);
  if (Status s = st->run(); !s.ok()) return s;
  return d.id > 0 ? d.id : writer_.last_insert_rowid();
}

Result<DeadLetter> SqliteCatalog::get_dead_letter(int64_t id) {
  Result<Reader> r = acquire_reader();
  if (!r.ok()) return r.status();
  Result<Statement> st = (*r)->prepare("SELECT " + std::string(kDeadLetterColumns) +
                                       " FROM dead_letters WHERE id = ?1");
  if (!st.ok()) return st.status();
  Result<bool> row = st->bind(1, id).step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("dead letter '" + std::to_string(id) + "' not found");
  return read_dead_letter(*st);
}

Status SqliteCatalog::delete_dead_letter(int64_t id) {
  std::lock_guard lock(writer_mu_);
  Result<Statement> st = writer_.prepare("DELETE FROM dead_letters WHERE id = ?1");
  if (!st.ok()) return st.status();
  if (Status s = st->bind(1, id).run(); !s.ok()) return s;
  if (writer_.changes() == 0)
    return Status::NotFound("dead letter '" + std::to_string(id) + "' not found");
  return Status::Ok();
}

Result<std::vector<DeadLetter>> SqliteCatalog::list_dead_letters(int limit) {
  Result<Reader> r = acquire_reader();
  if (!r.ok()) return r.status();
  Result<Statement> st = (*r)->prepare("SELECT " + std::string(kDeadLetterColumns) +
                                       " FROM dead_letters ORDER BY id DESC LIMIT ?1");
  if (!st.ok()) return st.status();
  st->bind(1, std::clamp(limit, 1, 1000));
  std::vector<DeadLetter> out;
  for (;;) {
    Result<bool> row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back(read_dead_letter(*st));
  }
}

Result<std::optional<std::string>> SqliteCatalog::get_setting(const std::string& key) {
  Result<Reader> r = acquire_reader();
  if (!r.ok()) return r.status();
  Result<Statement> st = (*r)->prepare("SELECT value FROM alerting_settings WHERE key = ?1");
  if (!st.ok()) return st.status();
  Result<bool> row = st->bind(1, key).step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(st->text(0));
}

Status SqliteCatalog::put_setting(const std::string& key, const std::string& value) {
  std::lock_guard lock(writer_mu_);
  Result<Statement> st =
      writer_.prepare("INSERT OR REPLACE INTO alerting_settings (key, value) VALUES (?1, ?2)");
  if (!st.ok()) return st.status();
  return st->bind(1, key).bind(2, value).run();
}

Status SqliteCatalog::scan_status_history(int64_t since_ms,
                                          const std::function<void(const StatusTransition&)>& fn) {
  Result<Reader> r = acquire_reader();
  if (!r.ok()) return r.status();
  Result<Statement> st = (*r)->prepare(
      "SELECT device_id, from_status, to_status, reason, at FROM status_history "
      "WHERE at >= ?1 ORDER BY device_id, at, id");
  if (!st.ok()) return st.status();
  st->bind(1, since_ms);
  StatusTransition t;
  for (;;) {
    Result<bool> row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Ok();
    t.device_id = st->text(0);
    t.from = parse_device_status(st->text(1)).value_or(DeviceStatus::kUnknown);
    t.to = parse_device_status(st->text(2)).value_or(DeviceStatus::kUnknown);
    t.reason = st->text(3);
    t.at_ms = st->int64(4);
    fn(t);
  }
}

}  // namespace fp
