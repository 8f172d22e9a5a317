#include "storage/catalog/migrations.h"

#include <array>
#include <string>

namespace fp::catalog {
namespace {

// v1: devices, their status history and API keys. Times are milliseconds since the epoch;
// status columns hold to_string(DeviceStatus); metadata/config hold JSON object text.
constexpr std::string_view kV1 = R"sql(
CREATE TABLE devices (
  device_id       TEXT PRIMARY KEY NOT NULL,
  name            TEXT NOT NULL DEFAULT '',
  type            TEXT NOT NULL DEFAULT '',
  location        TEXT NOT NULL DEFAULT '',
  metadata        TEXT NOT NULL DEFAULT '{}',
  config          TEXT NOT NULL DEFAULT '{}',
  status          TEXT NOT NULL DEFAULT 'unknown',
  status_reason   TEXT NOT NULL DEFAULT '',
  last_seen       INTEGER,
  battery_level   REAL,
  signal_strength REAL,
  lat             REAL,
  lon             REAL,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX devices_by_status ON devices (status, device_id);
CREATE INDEX devices_by_type ON devices (type, device_id);
CREATE INDEX devices_by_location ON devices (location, device_id);

CREATE TABLE status_history (
  id          INTEGER PRIMARY KEY,
  device_id   TEXT NOT NULL,
  from_status TEXT NOT NULL,
  to_status   TEXT NOT NULL,
  reason      TEXT NOT NULL DEFAULT '',
  at          INTEGER NOT NULL
);
CREATE INDEX status_history_by_device ON status_history (device_id, at);

CREATE TABLE api_keys (
  id         TEXT PRIMARY KEY NOT NULL,
  name       TEXT NOT NULL DEFAULT '',
  role       TEXT NOT NULL,
  key_hash   TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  revoked    INTEGER NOT NULL DEFAULT 0
);
)sql";

// v2 (alerts): alert rules (canonical JSON per rule), alerts with their lifecycle, webhook
// dead letters and a small settings table. Independent of every other migration's tables.
constexpr std::string_view kV2Alerts = R"sql(
CREATE TABLE alert_rules (
  id         TEXT PRIMARY KEY NOT NULL,
  body       TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE alerts (
  id              INTEGER PRIMARY KEY,
  rule_id         TEXT NOT NULL DEFAULT '',
  device_id       TEXT NOT NULL,
  severity        TEXT NOT NULL,
  state           TEXT NOT NULL,
  message         TEXT NOT NULL DEFAULT '',
  value           REAL,
  started_at      INTEGER NOT NULL,
  acknowledged_at INTEGER,
  acknowledged_by TEXT NOT NULL DEFAULT '',
  note            TEXT NOT NULL DEFAULT '',
  resolved_at     INTEGER,
  resolved_by     TEXT NOT NULL DEFAULT '',
  updated_at      INTEGER NOT NULL,
  version         INTEGER NOT NULL
);
CREATE INDEX alerts_by_state ON alerts (state, id);
CREATE INDEX alerts_by_device ON alerts (device_id, id);

CREATE TABLE dead_letters (
  id         INTEGER PRIMARY KEY,
  alert_id   INTEGER NOT NULL,
  rule_id    TEXT NOT NULL DEFAULT '',
  url        TEXT NOT NULL,
  payload    TEXT NOT NULL,
  attempts   INTEGER NOT NULL,
  last_error TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  failed_at  INTEGER NOT NULL
);

CREATE TABLE alerting_settings (
  key   TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
);
)sql";

// v3 (mqtt): per-device tokens for MQTT passwords and HTTP ingest. Only the SHA-256 of the
// secret is stored. Independent of other branches' tables.
constexpr std::string_view kV3Mqtt = R"sql(
CREATE TABLE device_tokens (
  id         TEXT PRIMARY KEY NOT NULL,
  device_id  TEXT NOT NULL,
  name       TEXT NOT NULL DEFAULT '',
  token_hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  revoked    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX device_tokens_by_device ON device_tokens (device_id, created_at);
)sql";

// v4 (identity): device attributes — the strings a device reports beside its numeric values
// (units, firmware versions, line-protocol tags), the newest value per (device, key). Rows go
// with their device (trigger), so a re-registered id starts without old attributes.
constexpr std::string_view kV4Attributes = R"sql(
CREATE TABLE device_attributes (
  device_id  TEXT NOT NULL,
  key        TEXT NOT NULL,
  value      TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (device_id, key)
) WITHOUT ROWID;
CREATE TRIGGER device_attributes_of_deleted_device AFTER DELETE ON devices
BEGIN
  DELETE FROM device_attributes WHERE device_id = OLD.device_id;
END;
)sql";

// v5 (durable alerting): when an alert's condition happened (the reading's time, beside
// started_at, when it was raised; NULL in older rows means started_at), and the webhook
// deliveries waiting for an attempt, stored with the alert change they announce so a restart
// or a crash resumes them (at least once).
constexpr std::string_view kV5Durable = R"sql(
ALTER TABLE alerts ADD COLUMN condition_at INTEGER;

CREATE TABLE webhook_queue (
  id               INTEGER PRIMARY KEY,
  alert_id         INTEGER NOT NULL,
  rule_id          TEXT NOT NULL DEFAULT '',
  url              TEXT NOT NULL,
  payload          TEXT NOT NULL,
  attempts         INTEGER NOT NULL DEFAULT 0,
  last_error       TEXT NOT NULL DEFAULT '',
  created_at       INTEGER NOT NULL,
  first_attempt_at INTEGER,
  next_attempt_at  INTEGER NOT NULL
);
)sql";

// v6 (sessions): MQTT persistent sessions with their subscriptions, and config/command pushes
// waiting for a device (queued while it is away, kept until it acknowledges them).
constexpr std::string_view kV6MqttSessions = R"sql(
CREATE TABLE mqtt_sessions (
  client_id  TEXT PRIMARY KEY NOT NULL,
  device_id  TEXT NOT NULL DEFAULT '',
  expiry_ms  INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE TABLE mqtt_subscriptions (
  client_id TEXT NOT NULL REFERENCES mqtt_sessions (client_id) ON DELETE CASCADE,
  filter    TEXT NOT NULL,
  qos       INTEGER NOT NULL,
  PRIMARY KEY (client_id, filter)
);
CREATE TABLE mqtt_push_queue (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  device_id  TEXT NOT NULL,
  topic      TEXT NOT NULL,
  payload    TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  attempts   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX mqtt_push_queue_by_topic ON mqtt_push_queue (topic, id);
CREATE INDEX mqtt_push_queue_by_device ON mqtt_push_queue (device_id);
CREATE INDEX mqtt_push_queue_by_expiry ON mqtt_push_queue (expires_at);
)sql";

// v7 (branch edge): an index per device-list sort order that had none, on the same
// expressions list_devices() orders by, so a page of any order is an index seek, not a scan
// and sort of every device.
constexpr std::string_view kV7DeviceSortIndexes = R"sql(
CREATE INDEX devices_by_name ON devices (name, device_id);
CREATE INDEX devices_by_last_seen ON devices (COALESCE(last_seen, -1e300), device_id);
CREATE INDEX devices_by_battery ON devices (COALESCE(battery_level, -1e300), device_id);
CREATE INDEX devices_by_signal ON devices (COALESCE(signal_strength, -1e300), device_id);
)sql";

constexpr std::array<std::string_view, 7> kMigrations = {
    kV1, kV2Alerts, kV3Mqtt, kV4Attributes, kV5Durable, kV6MqttSessions, kV7DeviceSortIndexes};

Result<int> user_version(sqlite::Db& db) {
  Result<sqlite::Statement> st = db.prepare("PRAGMA user_version");
  if (!st.ok()) return st.status();
  Result<bool> row = st->step();
  if (!row.ok()) return row.status();
  return static_cast<int>(st->int64(0));
}

}  // namespace

std::span<const std::string_view> schema_migrations() {
  return kMigrations;
}

Result<int> migrate(sqlite::Db& db, std::span<const std::string_view> migrations) {
  // Read the version inside the write transaction so two processes cannot both migrate.
  Result<sqlite::Transaction> tx = sqlite::Transaction::begin(db);
  if (!tx.ok()) return tx.status();
  Result<int> version = user_version(db);
  if (!version.ok()) return version.status();
  const int current = *version;
  const int latest = static_cast<int>(migrations.size());
  if (current > latest) {
    return Status::Corruption("catalog schema version " + std::to_string(current) +
                              " is newer than this build supports (" + std::to_string(latest) +
                              ")");
  }
  if (current == latest) return current;  // nothing to do; the guard rolls back the no-op
  for (int v = current; v < latest; ++v) {
    Status s = db.exec(migrations[static_cast<size_t>(v)]);
    if (!s.ok()) {
      return Status(s.code(), "migration to schema v" + std::to_string(v + 1) + ": " + s.message());
    }
  }
  Status s = db.exec("PRAGMA user_version=" + std::to_string(latest));
  if (s.ok()) s = tx->commit();
  if (!s.ok()) return s;
  return latest;
}

}  // namespace fp::catalog
