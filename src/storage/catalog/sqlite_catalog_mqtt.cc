// The MQTT part of SqliteCatalog (schema v6): persistent sessions with their subscriptions,
// and the queue of config/command pushes waiting for a device.

#include <fmt/format.h>

#include "storage/catalog/sqlite_catalog.h"

namespace fp {

using sqlite::Statement;
using sqlite::Transaction;

namespace {

Result<int64_t> count(sqlite::Db& db, std::string_view sql, const std::string& arg,
                      int64_t now_ms) {
  Result<Statement> st = db.prepare(sql);
  if (!st.ok()) return st.status();
  st->bind(1, now_ms);
  if (!arg.empty()) st->bind(2, arg);
  Result<bool> row = st->step();
  if (!row.ok()) return row.status();
  return *row ? st->int64(0) : 0;
}

Result<int64_t> delete_expired_locked(sqlite::Db& db, int64_t now_ms) {
  Result<Statement> st = db.prepare("DELETE FROM mqtt_push_queue WHERE expires_at <= ?1");
  if (!st.ok()) return st.status();
  st->bind(1, now_ms);
  if (Status s = st->run(); !s.ok()) return s;
  return db.changes();
}

}  // namespace

Status SqliteCatalog::put_mqtt_session(const MqttSessionRecord& s) {
  std::lock_guard lock(writer_mu_);
  Result<Transaction> tx = Transaction::begin(writer_);
  if (!tx.ok()) return tx.status();
  {
    // REPLACE would delete and re-insert, cascading to the subscriptions; upsert keeps them.
    Result<Statement> st = writer_.prepare(R"sql(
        INSERT INTO mqtt_sessions (client_id, device_id, expiry_ms, expires_at)
        VALUES (?1, ?2, ?3, ?4)
        ON CONFLICT (client_id) DO UPDATE SET device_id = ?2, expiry_ms = ?3, expires_at = ?4)sql");
    if (!st.ok()) return st.status();
    st->bind(1, s.client_id).bind(2, s.device_id).bind(3, s.expiry_ms).bind(4, s.expires_at_ms);
    if (Status r = st->run(); !r.ok()) return r;
  }
  {
    Result<Statement> st = writer_.prepare("DELETE FROM mqtt_subscriptions WHERE client_id = ?1");
    if (!st.ok()) return st.status();
    st->bind(1, s.client_id);
    if (Status r = st->run(); !r.ok()) return r;
  }
  Result<Statement> ins = writer_.prepare(
      "INSERT INTO mqtt_subscriptions (client_id, filter, qos) VALUES (?1, ?2, ?3)");
  if (!ins.ok()) return ins.status();
  for (const auto& [filter, qos] : s.subscriptions) {
    ins->reset();
    ins->bind(1, s.client_id).bind(2, filter).bind(3, static_cast<int>(qos));
    if (Status r = ins->run(); !r.ok()) return r;
  }
  return tx->commit();
}

Status SqliteCatalog::delete_mqtt_session(const std::string& client_id) {
  std::lock_guard lock(writer_mu_);
  Result<Statement> st = writer_.prepare("DELETE FROM mqtt_sessions WHERE client_id = ?1");
  if (!st.ok()) return st.status();
  st->bind(1, client_id);
  return st->run();
}

Result<std::vector<MqttSessionRecord>> SqliteCatalog::load_mqtt_sessions() {
  Result<Reader> r = acquire_reader();
  if (!r.ok()) return r.status();
  Result<Statement> st = (*r)->prepare(R"sql(
      SELECT s.client_id, s.device_id, s.expiry_ms, s.expires_at, b.filter, b.qos
      FROM mqtt_sessions s LEFT JOIN mqtt_subscriptions b ON b.client_id = s.client_id
      ORDER BY s.client_id, b.filter)sql");
  if (!st.ok()) return st.status();
  std::vector<MqttSessionRecord> out;
  for (;;) {
    Result<bool> row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    std::string client_id = st->text(0);
    if (out.empty() || out.back().client_id != client_id) {
      MqttSessionRecord s;
      s.client_id = std::move(client_id);
      s.device_id = st->text(1);
      s.expiry_ms = st->int64(2);
      s.expires_at_ms = st->int64(3);
      out.push_back(std::move(s));
    }
    if (!st->is_null(4))
      out.back().subscriptions.emplace_back(st->text(4), static_cast<uint8_t>(st->int64(5)));
  }
}

Result<int64_t> SqliteCatalog::enqueue_push(QueuedPush& p, const PushQueueLimits& limits,
                                            int64_t now_ms, bool replace_topic, int64_t* expired) {
  std::lock_guard lock(writer_mu_);
  Result<Transaction> tx = Transaction::begin(writer_);
  if (!tx.ok()) return tx.status();
  Result<int64_t> gone = delete_expired_locked(writer_, now_ms);
  if (!gone.ok()) return gone.status();
  if (expired) *expired += *gone;
  if (replace_topic) {
    Result<Statement> st = writer_.prepare("DELETE FROM mqtt_push_queue WHERE topic = ?1");
    if (!st.ok()) return st.status();
    st->bind(1, p.topic);
    if (Status s = st->run(); !s.ok()) return s;
  } else {
    Result<int64_t> mine =
        count(writer_, "SELECT COUNT(*) FROM mqtt_push_queue WHERE expires_at > ?1 AND topic = ?2",
              p.topic, now_ms);
    if (!mine.ok()) return mine.status();
    if (*mine >= limits.per_device) {
      if (*gone > 0) (void)tx->commit();  // keep the clean-up
      return Status(StatusCode::kOverloaded,
                    fmt::format("device '{}' already has {} queued commands (the limit per device)",
                                p.device_id, limits.per_device));
    }
    Result<int64_t> all =
        count(writer_, "SELECT COUNT(*) FROM mqtt_push_queue WHERE expires_at > ?1", "", now_ms);
    if (!all.ok()) return all.status();
    if (*all >= limits.total) {
      if (*gone > 0) (void)tx->commit();
      return Status(
          StatusCode::kOverloaded,
          fmt::format("the push queue holds {} pushes (the limit for all devices)", limits.total));
    }
  }
  Result<Statement> st = writer_.prepare(R"sql(
      INSERT INTO mqtt_push_queue (device_id, topic, payload, created_at, expires_at, attempts)
      VALUES (?1, ?2, ?3, ?4, ?5, 0))sql");
  if (!st.ok()) return st.status();
  st->bind(1, p.device_id).bind(2, p.topic).bind(3, p.payload);
  st->bind(4, p.created_at_ms).bind(5, p.expires_at_ms);
  if (Status s = st->run(); !s.ok()) return s;
  p.id = writer_.last_insert_rowid();
  p.attempts = 0;
  if (Status s = tx->commit(); !s.ok()) return s;
  return p.id;
}

Result<std::vector<QueuedPush>> SqliteCatalog::pending_pushes(const std::string& topic,
                                                              int64_t now_ms, int limit) {
  Result<Reader> r = acquire_reader();
  if (!r.ok()) return r.status();
  Result<Statement> st = (*r)->prepare(R"sql(
      SELECT id, device_id, topic, payload, created_at, expires_at, attempts FROM mqtt_push_queue
      WHERE topic = ?1 AND expires_at > ?2 ORDER BY id LIMIT ?3)sql");
  if (!st.ok()) return st.status();
  st->bind(1, topic).bind(2, now_ms).bind(3, limit);
  std::vector<QueuedPush> out;
  for (;;) {
    Result<bool> row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back(QueuedPush{st->int64(0), st->text(1), st->text(2), st->text(3), st->int64(4),
                             st->int64(5), static_cast<int>(st->int64(6))});
  }
}

Status SqliteCatalog::mark_push_sent(int64_t id) {
  std::lock_guard lock(writer_mu_);
  Result<Statement> st =
      writer_.prepare("UPDATE mqtt_push_queue SET attempts = attempts + 1 WHERE id = ?1");
  if (!st.ok()) return st.status();
  st->bind(1, id);
  return st->run();
}

Status SqliteCatalog::delete_push(int64_t id) {
  std::lock_guard lock(writer_mu_);
  Result<Statement> st = writer_.prepare("DELETE FROM mqtt_push_queue WHERE id = ?1");
  if (!st.ok()) return st.status();
  st->bind(1, id);
  return st->run();
}

Result<int64_t> SqliteCatalog::delete_expired_pushes(int64_t now_ms) {
  std::lock_guard lock(writer_mu_);
  return delete_expired_locked(writer_, now_ms);
}

Status SqliteCatalog::forget_device_mqtt_state(const std::string& device_id) {
  std::lock_guard lock(writer_mu_);
  Result<Transaction> tx = Transaction::begin(writer_);
  if (!tx.ok()) return tx.status();
  for (std::string_view sql : {"DELETE FROM mqtt_push_queue WHERE device_id = ?1",
                               "DELETE FROM mqtt_sessions WHERE device_id = ?1"}) {
    Result<Statement> st = writer_.prepare(sql);
    if (!st.ok()) return st.status();
    st->bind(1, device_id);
    if (Status s = st->run(); !s.ok()) return s;
  }
  return tx->commit();
}

}  // namespace fp
