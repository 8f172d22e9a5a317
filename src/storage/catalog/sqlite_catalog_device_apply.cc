// The cluster part of SqliteCatalog's devices: a registration or update applied from a
// partition's stream (docs/cluster.md "Device registrations and updates"). Every column it
// writes comes from the change itself (including updated_at), so applying the same change twice
// gives the same row.

#include "storage/catalog/sqlite_catalog.h"

namespace fp {

using sqlite::Statement;

Result<Device> SqliteCatalog::apply_device_change(const DeviceChange& c) {
  {
    std::lock_guard lock(writer_mu_);
    const DeviceUpdate& f = c.fields;
    // Create: insert, or the same replace when the id exists (a replay, or a device registered
    // on the fly by a report meanwhile); created_at stays what the first write set.
    constexpr std::string_view kCreate = R"sql(
          INSERT INTO devices (device_id, name, type, location, metadata, config, created_at,
                               updated_at)
          VALUES (?1, coalesce(?2, ''), coalesce(?3, ''), coalesce(?4, ''), coalesce(?5, '{}'),
                  coalesce(?6, '{}'), ?8, ?8)
          ON CONFLICT (device_id) DO UPDATE SET name = excluded.name, type = excluded.type,
            location = excluded.location, metadata = excluded.metadata,
            config = excluded.config, updated_at = excluded.updated_at)sql";
    constexpr std::string_view kUpdate = R"sql(
          UPDATE devices SET
            name = coalesce(?2, name), type = coalesce(?3, type), location = coalesce(?4, location),
            metadata = CASE WHEN ?5 IS NULL THEN metadata WHEN ?7 THEN json_patch(metadata, ?5)
                            ELSE ?5 END,
            config = CASE WHEN ?6 IS NULL THEN config WHEN ?7 THEN json_patch(config, ?6)
                          ELSE ?6 END,
            updated_at = ?8
          WHERE device_id = ?1)sql";
    Result<Statement> st =
        writer_.prepare(c.kind == DeviceChange::Kind::kCreate ? kCreate : kUpdate);
    if (!st.ok()) return st.status();
    st->bind(1, c.device_id).bind(2, f.name).bind(3, f.type).bind(4, f.location);
    st->bind(5, f.metadata_json).bind(6, f.config_json).bind(7, f.merge_objects ? 1 : 0);
    st->bind(8, c.at_ms);
    if (Status s = st->run(); !s.ok()) return s;
    if (c.kind != DeviceChange::Kind::kCreate && writer_.changes() == 0)
      return Status::NotFound("device '" + c.device_id + "' not found");
  }
  return get_device(c.device_id);
}

}  // namespace fp
