#include "storage/catalog/sqlite.h"

#include <sqlite3.h>

#include <utility>

namespace fp::sqlite {

Status error_status(sqlite3* db, int rc, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  msg += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc) {
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_UNIQUE:
      return Status::AlreadyExists(std::move(msg));
    default:
      break;
  }
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable(std::move(msg));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(std::move(msg));
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
      return Status::IoError(std::move(msg));
    default:
      return Status::Internal(std::move(msg));
  }
}

// --- Db ---

Result<Db> Db::open(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  Db db(raw);  // owns the handle even when opening failed
  if (rc != SQLITE_OK) return error_status(raw, rc, "open " + path);
  sqlite3_extended_result_codes(raw, 1);
  // busy_timeout first, so switching to WAL waits for other connections instead of failing.
  // journal_size_limit: a checkpointed WAL file shrinks back to 1 MiB instead of keeping its
  // high-water size on disk (it only bounds the file's idle size; commits are as durable).
  Status s = db.exec(
      "PRAGMA busy_timeout=5000; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
      "PRAGMA foreign_keys=ON; PRAGMA journal_size_limit=1048576;");
  if (!s.ok()) return s;
  return db;
}

Db::Db(Db&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Db& Db::operator=(Db&& other) noexcept {
  if (this != &other) {
    sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

Db::~Db() {
  sqlite3_close_v2(db_);
}

Status Db::exec(std::string_view sql) {
  std::string text(sql);  // sqlite3_exec wants a NUL-terminated string
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr);
  return rc == SQLITE_OK ? Status::Ok() : error_status(db_, rc, "exec");
}

Result<Statement> Db::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return error_status(db_, rc, "prepare");
  return Statement(db_, stmt);
}

int64_t Db::changes() const {
  return sqlite3_changes64(db_);
}

int64_t Db::last_insert_rowid() const {
  return sqlite3_last_insert_rowid(db_);
}

// --- Statement ---

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      bind_error_(std::move(other.bind_error_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = other.db_;
    stmt_ = std::exchange(other.stmt_, nullptr);
    bind_error_ = std::move(other.bind_error_);
  }
  return *this;
}

Statement::~Statement() {
  sqlite3_finalize(stmt_);
}

Statement& Statement::check_bind(int rc) {
  if (rc != SQLITE_OK && bind_error_.ok()) bind_error_ = error_status(db_, rc, "bind");
  return *this;
}

Statement& Statement::bind(int i, int64_t v) {
  return check_bind(sqlite3_bind_int64(stmt_, i, v));
}

Statement& Statement::bind(int i, double v) {
  return check_bind(sqlite3_bind_double(stmt_, i, v));
}

Statement& Statement::bind(int i, std::string_view v) {
  return check_bind(
      sqlite3_bind_text64(stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
}

Statement& Statement::bind(int i, std::nullopt_t) {
  return check_bind(sqlite3_bind_null(stmt_, i));
}

Result<bool> Statement::step() {
  if (!bind_error_.ok()) return bind_error_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return error_status(db_, rc, "step");
}

Status Statement::run() {
  for (;;) {
    Result<bool> row = step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Ok();
  }
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_error_ = Status::Ok();
}

bool Statement::is_null(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

int64_t Statement::int64(int col) const {
  return sqlite3_column_int64(stmt_, col);
}

double Statement::real(int col) const {
  return sqlite3_column_double(stmt_, col);
}

std::string Statement::text(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  if (p == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::optional<int64_t> Statement::opt_int64(int col) const {
  if (is_null(col)) return std::nullopt;
  return int64(col);
}

std::optional<double> Statement::opt_real(int col) const {
  if (is_null(col)) return std::nullopt;
  return real(col);
}

// --- Transaction ---

Result<Transaction> Transaction::begin(Db& db) {
  const bool nested = !sqlite3_get_autocommit(db.handle());
  Status s = db.exec(nested ? "SAVEPOINT fp_nested" : "BEGIN IMMEDIATE");
  if (!s.ok()) return s;
  return Transaction(db, nested);
}

Transaction::Transaction(Transaction&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), nested_(other.nested_) {}

Transaction::~Transaction() {
  // Best effort: if COMMIT failed SQLite may already have rolled back, which is also fine.
  if (db_ == nullptr || sqlite3_get_autocommit(db_->handle())) return;
  (void)db_->exec(nested_ ? "ROLLBACK TO fp_nested; RELEASE fp_nested" : "ROLLBACK");
}

Status Transaction::commit() {
  Status s = db_->exec(nested_ ? "RELEASE fp_nested" : "COMMIT");
  if (s.ok()) db_ = nullptr;
  return s;
}

}  // namespace fp::sqlite
