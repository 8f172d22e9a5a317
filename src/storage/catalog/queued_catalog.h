#pragma once
// QueuedCatalog: the SqliteCatalog whose writes all go through a CatalogWriteQueue (group
// commit on one writer thread; see write_queue.h). What Catalog::open returns. Reads are the
// SqliteCatalog's own (reader connections in WAL mode: they never wait for a commit). A write
// method called on any thread but the writer waits for its group's commit, so its callers
// keep their synchronous contract; network threads use write_queue()->submit() instead.
// Write methods added to SqliteCatalog later and not overridden here still work (they run
// directly under the writer mutex), they just are not grouped.

#include <memory>
#include <optional>
#include <string>

#include "storage/catalog/sqlite_catalog.h"
#include "storage/catalog/write_queue.h"

namespace fp {

class QueuedCatalog final : public SqliteCatalog {
 public:
  // Opens and migrates the database at `path` as SqliteCatalog::open does and starts the
  // writer thread.
  static Result<std::unique_ptr<QueuedCatalog>> open(const std::string& path, const Clock& clock,
                                                     CatalogWriteQueueOptions options = {});

  CatalogWriteQueue* write_queue() override { return &queue_; }

  Status create_device(const Device& d) override;
  Result<Device> update_device(const std::string& id, const DeviceUpdate& u) override;
  Status delete_device(const std::string& id) override;
  Status apply_reports(std::span<const Device> new_devices,
                       std::span<const DeviceLiveUpdate> updates,
                       std::span<const StatusTransition> transitions) override;
  Status put_api_key(const ApiKeyRecord& k) override;
  Status revoke_api_key(const std::string& id) override;
  Status put_device_token(const DeviceTokenRecord& t) override;
  Status revoke_device_token(const std::string& device_id, const std::string& id) override;
  Status put_rule(const RuleRecord& r) override;
  Status delete_rule(const std::string& id) override;
  Status put_alert(const Alert& a) override;
  Result<int64_t> put_dead_letter(const DeadLetter& d) override;
  Status delete_dead_letter(int64_t id) override;
  Status put_setting(const std::string& key, const std::string& value) override;
  Status put_alert_with_deliveries(const Alert& a,
                                   std::vector<WebhookDelivery>& deliveries) override;
  Status update_delivery(const WebhookDelivery& d) override;
  Status delete_delivery(int64_t id) override;
  Result<int64_t> dead_letter_delivery(int64_t delivery_id, const DeadLetter& d) override;
  Status requeue_dead_letter(int64_t id, WebhookDelivery& d) override;
  Status delete_all_data() override;
  Status apply_reports_and_attributes(std::span<const Device> new_devices,
                                      std::span<const DeviceLiveUpdate> updates,
                                      std::span<const StatusTransition> transitions,
                                      std::span<const DeviceAttribute> attributes) override;
  Status put_mqtt_session(const MqttSessionRecord& s) override;
  Status delete_mqtt_session(const std::string& client_id) override;
  Result<int64_t> enqueue_push(QueuedPush& p, const PushQueueLimits& limits, int64_t now_ms,
                               bool replace_topic, int64_t* expired) override;
  Status mark_push_sent(int64_t id) override;
  Status delete_push(int64_t id) override;
  Result<int64_t> delete_expired_pushes(int64_t now_ms) override;
  Status forget_device_mqtt_state(const std::string& device_id) override;

 private:
  QueuedCatalog(std::string path, const Clock& clock, sqlite::Db writer, int version,
                CatalogWriteQueueOptions options);

  // Runs `f` (a call of a SqliteCatalog write) on the writer thread and waits for the commit.
  template <typename F>
  auto write(F&& f) -> decltype(f());

  CatalogWriteQueue queue_;  // destroyed (drained) before the SqliteCatalog part
};

}  // namespace fp
