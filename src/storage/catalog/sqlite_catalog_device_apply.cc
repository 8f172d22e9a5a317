// The cluster part of SqliteCatalog's devices: a registration or update applied from a
// partition's stream (docs/cluster.md "Device registrations and updates"). Every column it
// writes comes from the change itself (including updated_at), so applying the same change twice
// gives the same row.

#include "storage/catalog/sqlite_catalog.h"

namespace fp {

using sqlite::Statement;
using sqlite::Transaction;

Result<Device> SqliteCatalog::apply_device_change(const DeviceChange& c) {
  {
    std::lock_guard lock(writer_mu_);
    const DeviceUpdate& f = c.fields;
    Result<Transaction> tx = Transaction::begin(writer_);
    if (!tx.ok()) return tx.status();
    if (c.kind == DeviceChange::Kind::kCreate) {
      // Insert, or the same replace when the id exists (a replay, or a device registered on
      // the fly by a report meanwhile); created_at stays what the first write set.
      Result<Statement> st = writer_.prepare(R"sql(
          INSERT INTO devices (device_id, name, type, location, metadata, config, created_at,
                               updated_at)
          VALUES (?1, coalesce(?2, ''), coalesce(?3, ''), coalesce(?4, ''), coalesce(?5, '{}'),
                  coalesce(?6, '{}'), ?7, ?7)
          ON CONFLICT (device_id) DO UPDATE SET name = excluded.name, type = excluded.type,
            location = excluded.location, metadata = excluded.metadata,
            config = excluded.config)sql");
      if (!st.ok()) return st.status();
      st->bind(1, c.device_id).bind(2, f.name).bind(3, f.type).bind(4, f.location);
      st->bind(5, f.metadata_json).bind(6, f.config_json).bind(7, c.at_ms);
      if (Status s = st->run(); !s.ok()) return s;
    } else {
      // The update of one node (not the queued override: writer_mu_ is held), in the same
      // transaction as the time of the change.
      Result<Device> updated = SqliteCatalog::update_device(c.device_id, f);
      if (!updated.ok()) return updated.status();
    }
    Result<Statement> at =
        writer_.prepare("UPDATE devices SET updated_at = ?2 WHERE device_id = ?1");
    if (!at.ok()) return at.status();
    if (Status s = at->bind(1, c.device_id).bind(2, c.at_ms).run(); !s.ok()) return s;
    if (Status s = tx->commit(); !s.ok()) return s;
  }
  return get_device(c.device_id);
}

}  // namespace fp
