#pragma once
// Versioned schema migrations of the catalog database. The schema version lives in
// PRAGMA user_version: a database at version N has had the first N migrations applied.
// Migrations are append-only; never edit one that has shipped, add a new one instead.

#include <span>
#include <string_view>

#include "storage/catalog/sqlite.h"
#include "util/result.h"

namespace fp::catalog {

// The catalog's migrations in order: entry i takes the schema from version i to i + 1.
std::span<const std::string_view> schema_migrations();

// Applies to `db` the migrations after its current user_version, all in one transaction
// (so a failure leaves the database as it was), and returns the resulting version.
// kCorruption if the database is at a version newer than `migrations` knows.
Result<int> migrate(sqlite::Db& db,
                    std::span<const std::string_view> migrations = schema_migrations());

}  // namespace fp::catalog
