#pragma once
// Catalog: the relational part of fleetpulse's state in one SQLite database
// (<data-dir>/catalog.db): devices, status history, API keys. Schema changes are versioned
// migrations (see migrations.cc); opening a database runs the ones it has not seen.
//
// Thread safety: every method may be called from any thread. Writes go through one writer
// connection (serialised by a mutex); reads use a small pool of reader connections, so a
// reader never waits behind a writer's fsync (WAL journal mode).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "model/device.h"
#include "storage/catalog/alerting_records.h"
#include "util/clock.h"
#include "util/result.h"

namespace fp {

// The orders a device list can be read in; ties are broken by device_id. Devices without a
// value (last_seen, battery_level, signal_strength) sort as the lowest.
enum class DeviceSortKey {
  kDeviceId,
  kName,
  kType,
  kLocation,
  kStatus,
  kLastSeen,
  kBatteryLevel,
  kSignalStrength
};
std::optional<DeviceSortKey> parse_device_sort_key(std::string_view s);
std::string_view to_string(DeviceSortKey k);

struct DeviceFilter {
  std::optional<DeviceStatus> status;
  std::optional<std::string> type;
  std::optional<std::string> location;
  std::optional<std::string> q;  // case-insensitive substring of id, name, type or location
  DeviceSortKey sort = DeviceSortKey::kDeviceId;
  bool descending = false;
};

// A device's id and the labels a fleet query groups by (list_device_labels).
struct DeviceLabels {
  std::string device_id;
  std::string type;      // empty unless asked for
  std::string location;  // empty unless asked for
};

struct DevicePage {
  std::vector<Device> devices;             // in the filter's sort order
  std::optional<std::string> next_cursor;  // opaque; present when more devices match
};

// Fields a PUT/PATCH may change; unset fields stay as they are. With merge_objects, metadata
// and config are merged key by key as a JSON merge patch (RFC 7386); otherwise replaced.
struct DeviceUpdate {
  std::optional<std::string> name;
  std::optional<std::string> type;
  std::optional<std::string> location;
  std::optional<std::string> metadata_json;
  std::optional<std::string> config_json;
  bool merge_objects = false;
};

// What a heartbeat (or any report) changes on a device. Unset optionals leave the column alone.
struct DeviceLiveUpdate {
  std::string device_id;
  int64_t last_seen_ms = 0;
  std::optional<double> battery_level;
  std::optional<double> signal_strength;
  std::optional<GeoPoint> geo;
  std::optional<std::string> name;      // only applied when the device has no name yet
  std::optional<std::string> location;  // a heartbeat may carry a location text
};

// The newest value of one device attribute (schema v4): a string a device reported beside its
// numeric values — a unit, a firmware version, a line-protocol tag ("tag.<key>").
struct DeviceAttribute {
  std::string device_id;
  std::string key;
  std::string value;
  int64_t updated_at_ms = 0;
};

enum class ApiRole { kRead, kWrite, kAdmin };
std::string_view to_string(ApiRole r);
std::optional<ApiRole> parse_api_role(std::string_view s);

struct ApiKeyRecord {
  std::string id;  // public identifier, e.g. "key_3f2a..."
  std::string name;
  ApiRole role = ApiRole::kRead;
  std::string key_hash;  // hex SHA-256 of the secret; the secret itself is never stored
  int64_t created_at_ms = 0;
  bool revoked = false;
};

// A device's own credential (MQTT password, HTTP Bearer for its own data).
struct DeviceTokenRecord {
  std::string id;  // public identifier, e.g. "tok_3f2a..."
  std::string device_id;
  std::string name;
  std::string token_hash;  // hex SHA-256 of the secret; the secret itself is never stored
  int64_t created_at_ms = 0;
  bool revoked = false;
};

// An MQTT persistent session (3.1.1 clean session 0, v5 session expiry > 0), kept so a client
// finds it again after a restart. expires_at_ms is INT64_MAX while the client is connected: a
// session found so after a crash starts its expiry at the next start.
struct MqttSessionRecord {
  std::string client_id;
  std::string device_id;  // the device the client authenticated as or named; may be empty
  int64_t expiry_ms = INT64_MAX;
  int64_t expires_at_ms = INT64_MAX;
  std::vector<std::pair<std::string, uint8_t>> subscriptions;  // filter, granted QoS
};

// A config or command push waiting for a device's acknowledgement (PUBACK), or for the device
// to come back and subscribe. Kept until acknowledged, delivered with QoS 0, or expired.
struct QueuedPush {
  int64_t id = 0;  // assigned by the catalog, increasing: the delivery order
  std::string device_id;
  std::string topic;  // devices/{id}/commands or devices/{id}/config
  std::string payload;
  int64_t created_at_ms = 0;
  int64_t expires_at_ms = 0;
  int attempts = 0;  // times sent; a resend carries DUP
};

// Bounds of the push queue (enqueue_push refuses with kOverloaded beyond them).
struct PushQueueLimits {
  int64_t per_device = 100;
  int64_t total = 100'000;
};

class CatalogWriteQueue;

// --- devices (cluster): one device registration or update as written to a partition's stream
// and applied by its owner (Catalog::apply_device_change, WritePath::submit_device_change).
struct DeviceChange {
  enum class Kind : uint8_t { kCreate = 'C', kReplace = 'P', kPatch = 'M' };
  Kind kind = Kind::kCreate;
  std::string device_id;
  // kCreate: every field set (defaults "" and "{}"); kPatch: fields.merge_objects = true.
  DeviceUpdate fields;
  int64_t at_ms = 0;  // created_at of a create; updated_at of every kind
};

class Catalog {
 public:
  // Opens (creating if needed) the database at `path` and migrates it to the newest schema.
  // `clock` must outlive the catalog; it stamps created_at/updated_at.
  static Result<std::unique_ptr<Catalog>> open(const std::string& path, const Clock& clock);
  virtual ~Catalog() = default;

  virtual int schema_version() const = 0;

  // Devices. create_device fails with kAlreadyExists if the id is taken. created_at/updated_at
  // are set from the clock when zero.
  virtual Status create_device(const Device& d) = 0;
  virtual Result<Device> get_device(const std::string& id) = 0;
  virtual Result<Device> update_device(const std::string& id, const DeviceUpdate& u) = 0;
  // Removes the device and its status history; kNotFound if absent.
  virtual Status delete_device(const std::string& id) = 0;
  // Devices matching `f` with device_id > the cursor's position, at most `limit` (1..1000).
  // kInvalidArgument for a cursor that did not come from this method.
  virtual Result<DevicePage> list_devices(const DeviceFilter& f, const std::string& cursor,
                                          int limit) = 0;
  // The devices matching `f`'s filters (its sort is ignored) with device_id > `after_id`, in
  // device_id order, at most `limit` (any size): the id alone, plus type and location when
  // `with_labels`. What the fleet-wide telemetry reads page through: without labels and
  // filters it reads only the id index (no row).
  virtual Result<std::vector<DeviceLabels>> list_device_labels(const DeviceFilter& f,
                                                               const std::string& after_id,
                                                               size_t limit, bool with_labels) = 0;
  virtual Result<std::vector<Device>> load_all_devices() = 0;
  virtual Result<int64_t> count_devices() = 0;

  // The commit path of heartbeats: in ONE transaction, registers `new_devices` (ignoring ids
  // that exist), applies `updates`, and records `transitions` (also setting each device's
  // status and status_reason). Returns once the transaction is durable.
  virtual Status apply_reports(std::span<const Device> new_devices,
                               std::span<const DeviceLiveUpdate> updates,
                               std::span<const StatusTransition> transitions) = 0;

  // Status history of one device, oldest first, with at_ms in [since_ms, until_ms], at most
  // `limit` rows (the newest ones when more match).
  virtual Result<std::vector<StatusTransition>> status_history(const std::string& id,
                                                               int64_t since_ms, int64_t until_ms,
                                                               int limit) = 0;

  // API keys.
  virtual Status put_api_key(const ApiKeyRecord& k) = 0;  // insert or replace by id
  virtual Result<std::vector<ApiKeyRecord>> list_api_keys() = 0;
  virtual Status revoke_api_key(const std::string& id) = 0;  // kNotFound if absent

  // Alerting (schema migration "alerts"; implemented in sqlite_catalog_alerts.cc).
  // Rules: put_rule inserts or replaces by id; delete_rule gives kNotFound if absent.
  virtual Status put_rule(const RuleRecord& r) = 0;
  virtual Status delete_rule(const std::string& id) = 0;
  virtual Result<std::vector<RuleRecord>> list_rules() = 0;
  // Alerts: put_alert inserts, or replaces the stored copy only when `a.version` is newer.
  virtual Status put_alert(const Alert& a) = 0;
  virtual Result<Alert> get_alert(int64_t id) = 0;
  virtual Result<AlertPage> list_alerts(const AlertQuery& q) = 0;
  // Every alert that is not resolved, and the highest alert id ever stored (0 if none).
  virtual Result<std::vector<Alert>> load_open_alerts() = 0;
  virtual Result<int64_t> max_alert_id() = 0;
  // Dead letters: put assigns `id` when it is 0 and returns it.
  virtual Result<int64_t> put_dead_letter(const DeadLetter& d) = 0;
  virtual Result<DeadLetter> get_dead_letter(int64_t id) = 0;
  virtual Status delete_dead_letter(int64_t id) = 0;                         // kNotFound if absent
  virtual Result<std::vector<DeadLetter>> list_dead_letters(int limit) = 0;  // newest first
  // A small key/value table for one-off markers (e.g. "default rules were seeded").
  virtual Result<std::optional<std::string>> get_setting(const std::string& key) = 0;
  virtual Status put_setting(const std::string& key, const std::string& value) = 0;
  // Every status transition with at_ms >= since_ms, ordered by device then time, in one scan.
  virtual Status scan_status_history(int64_t since_ms,
                                     const std::function<void(const StatusTransition&)>& fn) = 0;
  // Device tokens. list_device_tokens with an empty id lists every device's tokens.
  virtual Status put_device_token(const DeviceTokenRecord& t) = 0;  // insert; kAlreadyExists
  virtual Result<std::vector<DeviceTokenRecord>> list_device_tokens(
      const std::string& device_id) = 0;
  // Marks the token revoked; kNotFound unless `id` is a token of `device_id`.
  virtual Status revoke_device_token(const std::string& device_id, const std::string& id) = 0;

  // Webhook delivery queue (schema v5; sqlite_catalog_webhooks.cc). put_alert_with_deliveries
  // stores `a` as put_alert does and queues `deliveries` in the same transaction, assigning
  // their ids. update_delivery stores attempts/last_error/first and next attempt times.
  virtual Status put_alert_with_deliveries(const Alert& a,
                                           std::vector<WebhookDelivery>& deliveries) = 0;
  virtual Status update_delivery(const WebhookDelivery& d) = 0;
  virtual Status delete_delivery(int64_t id) = 0;  // delivered; ok if already gone
  // In one transaction: stores the dead letter `d` (assigning its id) and removes the queued
  // delivery `delivery_id` (0: none).
  virtual Result<int64_t> dead_letter_delivery(int64_t delivery_id, const DeadLetter& d) = 0;
  // In one transaction: removes dead letter `id` and queues `d` (assigning its id);
  // kNotFound if there is no such dead letter.
  virtual Status requeue_dead_letter(int64_t id, WebhookDelivery& d) = 0;
  // Queued deliveries with id > after_id, oldest first, at most `limit`.
  virtual Result<std::vector<WebhookDelivery>> load_deliveries(int64_t after_id, int limit) = 0;

  // Deletes every device, status transition and non-admin-seeded row. Keys are kept.
  virtual Status delete_all_data() = 0;

  // Device attributes (schema v4; sqlite_catalog_attributes.cc). apply_reports() plus, in the
  // same ONE transaction, an upsert of each attribute; the keys "tag.name", "tag.type" and
  // "tag.location" (line-protocol tags) also set that column of the device.
  virtual Status apply_reports_and_attributes(std::span<const Device> new_devices,
                                              std::span<const DeviceLiveUpdate> updates,
                                              std::span<const StatusTransition> transitions,
                                              std::span<const DeviceAttribute> attributes) = 0;
  // The device's attributes by key (empty when it has none or does not exist).
  virtual Result<std::vector<DeviceAttribute>> device_attributes(const std::string& id) = 0;
  // MQTT persistent sessions and the push queue (schema v6; sqlite_catalog_mqtt.cc).
  // put_mqtt_session inserts or replaces the session with its subscriptions in one transaction.
  virtual Status put_mqtt_session(const MqttSessionRecord& s) = 0;
  virtual Status delete_mqtt_session(const std::string& client_id) = 0;  // no error if absent
  virtual Result<std::vector<MqttSessionRecord>> load_mqtt_sessions() = 0;
  // Stores a push with a new id once it is durable; kOverloaded (message names the bound)
  // when its topic or the whole queue holds as many unexpired pushes as `limits` allow.
  // With `replace_topic` (a config: only the newest matters) the topic's older pushes are
  // dropped instead and no bound applies. Expired pushes are removed first (their number is
  // added to *expired when not null).
  virtual Result<int64_t> enqueue_push(QueuedPush& p, const PushQueueLimits& limits, int64_t now_ms,
                                       bool replace_topic, int64_t* expired) = 0;
  // Unexpired pushes on `topic`, oldest first (at most `limit`).
  virtual Result<std::vector<QueuedPush>> pending_pushes(const std::string& topic, int64_t now_ms,
                                                         int limit) = 0;
  virtual Status mark_push_sent(int64_t id) = 0;                      // attempts + 1
  virtual Status delete_push(int64_t id) = 0;                         // no error if absent
  virtual Result<int64_t> delete_expired_pushes(int64_t now_ms) = 0;  // how many
  // Drops a removed device's pushes and the sessions that were its own.
  virtual Status forget_device_mqtt_state(const std::string& device_id) = 0;

  // --- slowdisk: the write queue (group commit) behind this catalog, for callers that must
  // not wait for the disk (network threads): null when writes are not queued.
  virtual CatalogWriteQueue* write_queue() { return nullptr; }

  // --- devices (cluster): a registration or update applied from a partition's stream
  // (sqlite_catalog_device_apply.cc). Idempotent: create = insert, or the same replace when the
  // id exists; replace/patch = update_device with updated_at = c.at_ms (kNotFound when absent).
  // Applying the same change twice gives the same row.
  virtual Result<Device> apply_device_change(const DeviceChange& c) = 0;

  // --- devices (issue 16, idle devices): the KPI sampler reads the fleet without a row per
  // device that never reported (sqlite_catalog.cc).
  // Devices that have reported or have a known status (last_seen set or status not unknown),
  // in table order. `few`: few are expected (most devices never reported): read through the
  // indexes instead of every row.
  virtual Result<std::vector<Device>> load_seen_devices(bool few) = 0;
  // Per type, the devices that never reported (no last_seen, status unknown): how many, and
  // how many of them were created before `before_ms`. In type order.
  struct UnseenDevices {
    std::string type;
    int64_t devices = 0;
    int64_t created_before = 0;
  };
  virtual Result<std::vector<UnseenDevices>> count_unseen_devices_by_type(int64_t before_ms) = 0;
};

}  // namespace fp
