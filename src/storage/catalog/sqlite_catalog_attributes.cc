// The device-attribute part of SqliteCatalog (schema v4): the newest value of each string a
// device reported beside its numeric values, written in the commit path's transaction.

#include <string_view>

#include "storage/catalog/sqlite_catalog.h"

namespace fp {

using sqlite::Statement;

namespace {

// Line-protocol tags that are also columns of the device.
std::string_view column_of_tag(std::string_view key) {
  if (key == "tag.name") return "name";
  if (key == "tag.type") return "type";
  if (key == "tag.location") return "location";
  return {};
}

}  // namespace

Status SqliteCatalog::write_attributes_locked(std::span<const DeviceAttribute> attributes) {
  if (attributes.empty()) return Status::Ok();
  Result<Statement> upsert = writer_.prepare(R"sql(
      INSERT INTO device_attributes (device_id, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
      ON CONFLICT (device_id, key) DO UPDATE SET value = excluded.value,
        updated_at = excluded.updated_at)sql");
  if (!upsert.ok()) return upsert.status();
  for (const DeviceAttribute& a : attributes) {
    upsert->reset();
    upsert->bind(1, a.device_id).bind(2, a.key).bind(3, a.value).bind(4, a.updated_at_ms);
    if (Status s = upsert->run(); !s.ok()) return s;
    const std::string_view column = column_of_tag(a.key);
    if (column.empty()) continue;
    // The column name comes from the fixed list above, never from input.
    Result<Statement> set = writer_.prepare("UPDATE devices SET " + std::string(column) +
                                            " = ?2, updated_at = ?3 WHERE device_id = ?1 AND " +
                                            std::string(column) + " <> ?2");
    if (!set.ok()) return set.status();
    set->bind(1, a.device_id).bind(2, a.value).bind(3, a.updated_at_ms);
    if (Status s = set->run(); !s.ok()) return s;
  }
  return Status::Ok();
}

Status SqliteCatalog::read_attributes(sqlite::Db& db, Device& d) {
  Result<Statement> st =
      db.prepare("SELECT key, value FROM device_attributes WHERE device_id = ?1 ORDER BY key");
  if (!st.ok()) return st.status();
  st->bind(1, d.device_id);
  d.attributes.emplace();
  for (;;) {
    Result<bool> row = st->step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Ok();
    d.attributes->emplace_back(st->text(0), st->text(1));
  }
}

Result<std::vector<DeviceAttribute>> SqliteCatalog::device_attributes(const std::string& id) {
  Result<Reader> r = acquire_reader();
  if (!r.ok()) return r.status();
  Device d;
  d.device_id = id;
  if (Status s = read_attributes(**r, d); !s.ok()) return s;
  std::vector<DeviceAttribute> out;
  for (auto& [key, value] : *d.attributes) out.push_back({id, std::move(key), std::move(value), 0});
  return out;
}

}  // namespace fp
