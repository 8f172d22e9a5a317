// The webhook delivery queue of SqliteCatalog (schema v5): deliveries stored with the alert
// change they announce, updated after each failed attempt, and moved to the dead letters (or
// back from them) in one transaction each.

#include <algorithm>

#include "storage/catalog/sqlite_catalog.h"

namespace fp {

using sqlite::Statement;
using sqlite::Transaction;

namespace {

constexpr std::string_view kDeliveryColumns =
    "id, alert_id, rule_id, url, payload, attempts, last_error, created_at, first_attempt_at, "
    "next_attempt_at";

WebhookDelivery read_delivery(const Statement& st) {
  WebhookDelivery d;
  d.id = st.int64(0);
  d.alert_id = st.int64(1);
  d.rule_id = st.text(2);
  d.url = st.text(3);
  d.payload = st.text(4);
  d.attempts = static_cast<int>(st.int64(5));
  d.last_error = st.text(6);
  d.created_at_ms = st.int64(7);
  d.first_attempt_ms = st.opt_int64(8).value_or(0);
  d.next_attempt_ms = st.int64(9);
  return d;
}

}  // namespace

Status SqliteCatalog::insert_delivery_locked(WebhookDelivery& d) {
  Result<Statement> st =
      writer_.prepare("INSERT INTO webhook_queue (" + std::string(kDeliveryColumns) +
                      ") VALUES (NULL, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  if (!st.ok()) return st.status();
  st->bind(2, d.alert_id).bind(3, d.rule_id).bind(4, d.url).bind(5, d.payload);
  st->bind(6, d.attempts).bind(7, d.last_error).bind(8, d.created_at_ms);
  if (d.first_attempt_ms != 0) st->bind(9, d.first_attempt_ms);
  st->bind(10, d.next_attempt_ms);
  if (Status s = st->run(); !s.ok()) return s;
  d.id = writer_.last_insert_rowid();
  return Status::Ok();
}

Status SqliteCatalog::put_alert_with_deliveries(const Alert& a,
                                                std::vector<WebhookDelivery>& deliveries) {
  std::lock_guard lock(writer_mu_);
  auto store = [&]() -> Status {
    Result<Transaction> tx = Transaction::begin(writer_);
    if (!tx.ok()) return tx.status();
    FP_RETURN_IF_ERROR(put_alert_locked(a));
    for (WebhookDelivery& d : deliveries) FP_RETURN_IF_ERROR(insert_delivery_locked(d));
    return tx->commit();
  };
  Status s = store();
  if (!s.ok())  // rolled back: none of them is stored
    for (WebhookDelivery& d : deliveries) d.id = 0;
  return s;
}

Status SqliteCatalog::update_delivery(const WebhookDelivery& d) {
  std::lock_guard lock(writer_mu_);
  Result<Statement> st = writer_.prepare(
      "UPDATE webhook_queue SET attempts = ?2, last_error = ?3, first_attempt_at = ?4, "
      "next_attempt_at = ?5 WHERE id = ?1");
  if (!st.ok()) return st.status();
  st->bind(1, d.id).bind(2, d.attempts).bind(3, d.last_error);
  if (d.first_attempt_ms != 0) st->bind(4, d.first_attempt_ms);
  st->bind(5, d.next_attempt_ms);
  return st->run();
}

Status SqliteCatalog::delete_delivery(int64_t id) {
  std::lock_guard lock(writer_mu_);
  Result<Statement> st = writer_.prepare("DELETE FROM webhook_queue WHERE id = ?1");
  if (!st.ok()) return st.status();
  return st->bind(1, id).run();
}

Result<int64_t> SqliteCatalog::dead_letter_delivery(int64_t delivery_id, const DeadLetter& d) {
  std::lock_guard lock(writer_mu_);
  Result<Transaction> tx = Transaction::begin(writer_);
  if (!tx.ok()) return tx.status();
  Result<int64_t> id = put_dead_letter_locked(d);
  if (!id.ok()) return id.status();
  if (delivery_id != 0) {
    Result<Statement> st = writer_.prepare("DELETE FROM webhook_queue WHERE id = ?1");
    if (!st.ok()) return st.status();
    if (Status s = st->bind(1, delivery_id).run(); !s.ok()) return s;
  }
  if (Status s = tx->commit(); !s.ok()) return s;
  return *id;
}

Status SqliteCatalog::requeue_dead_letter(int64_t id, WebhookDelivery& d) {
  std::lock_guard lock(writer_mu_);
  Result<Transaction> tx = Transaction::begin(writer_);
  if (!tx.ok()) return tx.status();
  Result<Statement> st = writer_.prepare("DELETE FROM dead_letters WHERE id = ?1");
  if (!st.ok()) return st.status();
  if (Status s = st->bind(1, id).run(); !s.ok()) return s;
  if (writer_.changes() == 0)
    return Status::NotFound("dead letter '" + std::to_string(id) + "' not found");
  Status s = insert_delivery_locked(d);
  if (s.ok()) s = tx->commit();
  if (!s.ok()) d.id = 0;
  return s;
}

Result<std::vector<WebhookDelivery>> SqliteCatalog::load_deliveries(int64_t after_id, int limit) {
  Result<Reader> r = acquire_reader();
  if (!r.ok()) return r.status();
  Result<Statement> st = (*r)->prepare("SELECT " + std::string(kDeliveryColumns) +
                                       " FROM webhook_queue WHERE id > ?1 ORDER BY id LIMIT ?2");
  if (!st.ok()) return st.status();
  st->bind(1, after_id).bind(2, std::max(limit, 1));
  std::vector<WebhookDelivery> out;
  for (;;) {
    Result<bool> row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back(read_delivery(*st));
  }
}

}  // namespace fp
