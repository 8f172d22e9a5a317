#pragma once
// A thin RAII layer over the SQLite3 C API: a connection (Db), a prepared statement
// (Statement) and a transaction guard (Transaction). SQLite result codes become fp::Status.
//
// Thread safety: none of these classes is thread-safe; a connection and its statements must be
// used by one thread at a time (the owner serialises access, e.g. with a mutex).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace fp::sqlite {

class Statement;

// One open database connection. Move-only; closed by the destructor.
class Db {
 public:
  // Opens (creating if needed) the database file at `path` and sets busy_timeout=5000,
  // journal_mode=WAL, synchronous=FULL and foreign_keys=ON.
  static Result<Db> open(const std::string& path);

  Db(Db&& other) noexcept;
  Db& operator=(Db&& other) noexcept;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();

  // Runs one or more SQL statements that take no parameters, discarding any rows.
  Status exec(std::string_view sql);
  // Compiles one SQL statement. The statement must not outlive this connection.
  Result<Statement> prepare(std::string_view sql);
  // Rows changed by the most recent INSERT, UPDATE or DELETE on this connection.
  int64_t changes() const;
  // The rowid of the most recent successful INSERT on this connection.
  int64_t last_insert_rowid() const;

  sqlite3* handle() const { return db_; }

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
};

// A prepared statement. Parameters are numbered from 1 and columns from 0, as in SQLite.
// bind() records the first failure, which the next step()/run() reports.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Statement& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  Statement& bind(int i, int64_t v);
  Statement& bind(int i, double v);
  Statement& bind(int i, std::string_view v);  // copied by SQLite
  Statement& bind(int i, std::nullopt_t);
  template <typename T>
  Statement& bind(int i, const std::optional<T>& v) {
    return v ? bind(i, *v) : bind(i, std::nullopt);
  }

  // Advances to the next row: true when a row is ready, false when the statement is done.
  Result<bool> step();
  // Steps until done, ignoring rows: for statements run for their effect.
  Status run();
  // Rewinds the statement and clears its bindings so it can be run again.
  void reset();

  bool is_null(int col) const;
  int64_t int64(int col) const;
  double real(int col) const;
  std::string text(int col) const;  // "" for NULL
  std::optional<int64_t> opt_int64(int col) const;
  std::optional<double> opt_real(int col) const;

 private:
  friend class Db;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Statement& check_bind(int rc);

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  Status bind_error_;
};

// BEGIN IMMEDIATE on construction via begin(); rolls back in the destructor unless commit()
// succeeded. Inside a transaction that is already open (the write queue's group commit) it is
// a SAVEPOINT instead: commit() releases it (durable only with the outer COMMIT) and the
// destructor rolls back to it. The connection must outlive the guard.
class Transaction {
 public:
  static Result<Transaction> begin(Db& db);

  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  Status commit();

 private:
  Transaction(Db& db, bool nested) : db_(&db), nested_(nested) {}
  Db* db_;               // nullptr once committed, rolled back or moved from
  bool nested_ = false;  // a savepoint inside an outer transaction
};

// Maps a SQLite result code (and the connection's last error message) to a Status:
// constraint violations of a key or UNIQUE index to kAlreadyExists, busy/locked to
// kUnavailable, corrupt/not-a-database to kCorruption, I/O and disk-full to kIoError,
// the rest to kInternal. `what` prefixes the message.
Status error_status(sqlite3* db, int rc, std::string_view what);

}  // namespace fp::sqlite
