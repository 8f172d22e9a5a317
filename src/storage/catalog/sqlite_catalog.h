#pragma once
// SqliteCatalog: the Catalog on one SQLite database file in WAL mode.
//
// Concurrency: one writer connection, used under writer_mu_ for every write (so a write
// transaction holds the mutex through its fsync); reads borrow one of at most kMaxReaders
// reader connections from a pool, waiting only when all of them are busy.

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "storage/catalog/catalog.h"
#include "storage/catalog/sqlite.h"

namespace fp {

class SqliteCatalog : public Catalog {
 public:
  static constexpr int kMaxReaders = 4;

  // Opens and migrates the database at `path` (a file; ":memory:" would give each connection
  // its own database). `clock` must outlive the catalog.
  static Result<std::unique_ptr<SqliteCatalog>> open(const std::string& path, const Clock& clock);

  int schema_version() const override { return schema_version_; }

  Status create_device(const Device& d) override;
  Result<Device> get_device(const std::string& id) override;
  Result<Device> update_device(const std::string& id, const DeviceUpdate& u) override;
  Status delete_device(const std::string& id) override;
  Result<DevicePage> list_devices(const DeviceFilter& f, const std::string& cursor,
                                  int limit) override;
  Result<std::vector<DeviceLabels>> list_device_labels(const DeviceFilter& f,
                                                       const std::string& after_id, size_t limit,
                                                       bool with_labels) override;
  Result<std::vector<Device>> load_all_devices() override;
  Result<std::vector<Device>> load_seen_devices(bool few) override;
  Result<std::vector<UnseenDevices>> count_unseen_devices_by_type(int64_t before_ms) override;
  Result<int64_t> count_devices() override;

  Status apply_reports(std::span<const Device> new_devices,
                       std::span<const DeviceLiveUpdate> updates,
                       std::span<const StatusTransition> transitions) override;
  Result<std::vector<StatusTransition>> status_history(const std::string& id, int64_t since_ms,
                                                       int64_t until_ms, int limit) override;

  Status put_api_key(const ApiKeyRecord& k) override;
  Result<std::vector<ApiKeyRecord>> list_api_keys() override;
  Status revoke_api_key(const std::string& id) override;
  Status put_device_token(const DeviceTokenRecord& t) override;
  Result<std::vector<DeviceTokenRecord>> list_device_tokens(const std::string& device_id) override;
  Status revoke_device_token(const std::string& device_id, const std::string& id) override;

  Status put_rule(const RuleRecord& r) override;
  Status delete_rule(const std::string& id) override;
  Result<std::vector<RuleRecord>> list_rules() override;
  Status put_alert(const Alert& a) override;
  Result<Alert> get_alert(int64_t id) override;
  Result<AlertPage> list_alerts(const AlertQuery& q) override;
  Result<std::vector<Alert>> load_open_alerts() override;
  Result<int64_t> max_alert_id() override;
  Result<int64_t> put_dead_letter(const DeadLetter& d) override;
  Result<DeadLetter> get_dead_letter(int64_t id) override;
  Status delete_dead_letter(int64_t id) override;
  Result<std::vector<DeadLetter>> list_dead_letters(int limit) override;
  Result<std::optional<std::string>> get_setting(const std::string& key) override;
  Status put_setting(const std::string& key, const std::string& value) override;
  Status scan_status_history(int64_t since_ms,
                             const std::function<void(const StatusTransition&)>& fn) override;

  Status put_alert_with_deliveries(const Alert& a,
                                   std::vector<WebhookDelivery>& deliveries) override;
  Status update_delivery(const WebhookDelivery& d) override;
  Status delete_delivery(int64_t id) override;
  Result<int64_t> dead_letter_delivery(int64_t delivery_id, const DeadLetter& d) override;
  Status requeue_dead_letter(int64_t id, WebhookDelivery& d) override;
  Result<std::vector<WebhookDelivery>> load_deliveries(int64_t after_id, int limit) override;

  Status delete_all_data() override;

  Status apply_reports_and_attributes(std::span<const Device> new_devices,
                                      std::span<const DeviceLiveUpdate> updates,
                                      std::span<const StatusTransition> transitions,
                                      std::span<const DeviceAttribute> attributes) override;
  Result<std::vector<DeviceAttribute>> device_attributes(const std::string& id) override;
  // sqlite_catalog_mqtt.cc
  Status put_mqtt_session(const MqttSessionRecord& s) override;
  Status delete_mqtt_session(const std::string& client_id) override;
  Result<std::vector<MqttSessionRecord>> load_mqtt_sessions() override;
  Result<int64_t> enqueue_push(QueuedPush& p, const PushQueueLimits& limits, int64_t now_ms,
                               bool replace_topic, int64_t* expired) override;
  Result<std::vector<QueuedPush>> pending_pushes(const std::string& topic, int64_t now_ms,
                                                 int limit) override;
  Status mark_push_sent(int64_t id) override;
  Status delete_push(int64_t id) override;
  Result<int64_t> delete_expired_pushes(int64_t now_ms) override;
  Status forget_device_mqtt_state(const std::string& device_id) override;
  // --- devices (cluster): sqlite_catalog_device_apply.cc
  Result<Device> apply_device_change(const DeviceChange& c) override;

  // Group commit (used by CatalogWriteQueue's writer thread): runs every op in ONE
  // transaction on the writer connection, each inside its own savepoint so an op that fails
  // is rolled back alone, then commits once. results[i] is ops[i]'s status: its own error, or
  // the commit's when the group could not commit; ok only once the transaction is durable.
  // The write methods called by an op join the transaction (writer_mu_ is recursive).
  void run_grouped(std::span<const std::function<Status()>> ops, std::vector<Status>& results);

 protected:
  SqliteCatalog(std::string path, const Clock& clock, sqlite::Db writer, int version);

 private:
  // Returns a borrowed reader connection to the pool when the Reader goes out of scope.
  struct ReaderReturn {
    SqliteCatalog* owner;
    void operator()(sqlite::Db* db) const { owner->release_reader(db); }
  };
  using Reader = std::unique_ptr<sqlite::Db, ReaderReturn>;

  Result<Reader> acquire_reader();
  // Needs writer_mu_ and an open transaction (sqlite_catalog_attributes.cc).
  Status write_attributes_locked(std::span<const DeviceAttribute> attributes);
  // Sets d.attributes from `db` (sqlite_catalog_attributes.cc).
  Status read_attributes(sqlite::Db& db, Device& d);
  void release_reader(sqlite::Db* db);
  // Writes of the alerting tables on the writer connection; writer_mu_ held by the caller.
  Status put_alert_locked(const Alert& a);
  Result<int64_t> put_dead_letter_locked(const DeadLetter& d);
  Status insert_delivery_locked(WebhookDelivery& d);

  // Constant after construction.
  const std::string path_;
  const Clock& clock_;
  const int schema_version_;

  std::recursive_mutex writer_mu_;  // recursive: run_grouped holds it around the writes
  sqlite::Db writer_;               // guarded by writer_mu_

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<sqlite::Db>> idle_readers_;  // guarded by pool_mu_
  int open_readers_ = 0;                                   // guarded by pool_mu_
};

}  // namespace fp
