#include "storage/catalog/queued_catalog.h"

#include <utility>

#include "storage/catalog/migrations.h"

namespace fp {
namespace {

const Status& status_of(const Status& s) {
  return s;
}
template <typename T>
const Status& status_of(const Result<T>& r) {
  return r.status();
}

}  // namespace

Result<std::unique_ptr<QueuedCatalog>> QueuedCatalog::open(const std::string& path,
                                                           const Clock& clock,
                                                           CatalogWriteQueueOptions options) {
  Result<sqlite::Db> db = sqlite::Db::open(path);
  if (!db.ok()) return db.status();
  Result<int> version = catalog::migrate(*db);
  if (!version.ok()) return version.status();
  return std::unique_ptr<QueuedCatalog>(
      new QueuedCatalog(path, clock, std::move(db).value(), *version, options));
}

QueuedCatalog::QueuedCatalog(std::string path, const Clock& clock, sqlite::Db writer, int version,
                             CatalogWriteQueueOptions options)
    : SqliteCatalog(std::move(path), clock, std::move(writer), version), queue_(*this, options) {}

template <typename F>
auto QueuedCatalog::write(F&& f) -> decltype(f()) {
  if (queue_.on_writer_thread()) return f();
  using R = decltype(f());
  std::optional<R> out;
  Status s = queue_.run([&](Catalog&) {
    out.emplace(f());
    return Status(status_of(*out));
  });
  // Not run, or run but its group did not commit: the queue's status is the answer.
  if (!out.has_value() || (!s.ok() && status_of(*out).ok())) return R(s);
  return std::move(*out);
}

Status QueuedCatalog::create_device(const Device& d) {
  return write([&] { return SqliteCatalog::create_device(d); });
}

Result<Device> QueuedCatalog::update_device(const std::string& id, const DeviceUpdate& u) {
  return write([&] { return SqliteCatalog::update_device(id, u); });
}

Status QueuedCatalog::delete_device(const std::string& id) {
  return write([&] { return SqliteCatalog::delete_device(id); });
}

Status QueuedCatalog::apply_reports(std::span<const Device> new_devices,
                                    std::span<const DeviceLiveUpdate> updates,
                                    std::span<const StatusTransition> transitions) {
  return write([&] { return SqliteCatalog::apply_reports(new_devices, updates, transitions); });
}

Status QueuedCatalog::put_api_key(const ApiKeyRecord& k) {
  return write([&] { return SqliteCatalog::put_api_key(k); });
}

Status QueuedCatalog::revoke_api_key(const std::string& id) {
  return write([&] { return SqliteCatalog::revoke_api_key(id); });
}

Status QueuedCatalog::put_device_token(const DeviceTokenRecord& t) {
  return write([&] { return SqliteCatalog::put_device_token(t); });
}

Status QueuedCatalog::revoke_device_token(const std::string& device_id, const std::string& id) {
  return write([&] { return SqliteCatalog::revoke_device_token(device_id, id); });
}

Status QueuedCatalog::put_rule(const RuleRecord& r) {
  return write([&] { return SqliteCatalog::put_rule(r); });
}

Status QueuedCatalog::delete_rule(const std::string& id) {
  return write([&] { return SqliteCatalog::delete_rule(id); });
}

Status QueuedCatalog::put_alert(const Alert& a) {
  return write([&] { return SqliteCatalog::put_alert(a); });
}

Result<int64_t> QueuedCatalog::put_dead_letter(const DeadLetter& d) {
  return write([&] { return SqliteCatalog::put_dead_letter(d); });
}

Status QueuedCatalog::delete_dead_letter(int64_t id) {
  return write([&] { return SqliteCatalog::delete_dead_letter(id); });
}

Status QueuedCatalog::put_setting(const std::string& key, const std::string& value) {
  return write([&] { return SqliteCatalog::put_setting(key, value); });
}

Status QueuedCatalog::put_alert_with_deliveries(const Alert& a,
                                                std::vector<WebhookDelivery>& deliveries) {
  return write([&] { return SqliteCatalog::put_alert_with_deliveries(a, deliveries); });
}

Status QueuedCatalog::update_delivery(const WebhookDelivery& d) {
  return write([&] { return SqliteCatalog::update_delivery(d); });
}

Status QueuedCatalog::delete_delivery(int64_t id) {
  return write([&] { return SqliteCatalog::delete_delivery(id); });
}

Result<int64_t> QueuedCatalog::dead_letter_delivery(int64_t delivery_id, const DeadLetter& d) {
  return write([&] { return SqliteCatalog::dead_letter_delivery(delivery_id, d); });
}

Status QueuedCatalog::requeue_dead_letter(int64_t id, WebhookDelivery& d) {
  return write([&] { return SqliteCatalog::requeue_dead_letter(id, d); });
}

Status QueuedCatalog::delete_all_data() {
  return write([&] { return SqliteCatalog::delete_all_data(); });
}

Status QueuedCatalog::apply_reports_and_attributes(std::span<const Device> new_devices,
                                                   std::span<const DeviceLiveUpdate> updates,
                                                   std::span<const StatusTransition> transitions,
                                                   std::span<const DeviceAttribute> attributes) {
  return write([&] {
    return SqliteCatalog::apply_reports_and_attributes(new_devices, updates, transitions,
                                                       attributes);
  });
}

Status QueuedCatalog::put_mqtt_session(const MqttSessionRecord& s) {
  return write([&] { return SqliteCatalog::put_mqtt_session(s); });
}

Status QueuedCatalog::delete_mqtt_session(const std::string& client_id) {
  return write([&] { return SqliteCatalog::delete_mqtt_session(client_id); });
}

Result<int64_t> QueuedCatalog::enqueue_push(QueuedPush& p, const PushQueueLimits& limits,
                                            int64_t now_ms, bool replace_topic, int64_t* expired) {
  return write(
      [&] { return SqliteCatalog::enqueue_push(p, limits, now_ms, replace_topic, expired); });
}

Status QueuedCatalog::mark_push_sent(int64_t id) {
  return write([&] { return SqliteCatalog::mark_push_sent(id); });
}

Status QueuedCatalog::delete_push(int64_t id) {
  return write([&] { return SqliteCatalog::delete_push(id); });
}

Result<int64_t> QueuedCatalog::delete_expired_pushes(int64_t now_ms) {
  return write([&] { return SqliteCatalog::delete_expired_pushes(now_ms); });
}

Status QueuedCatalog::forget_device_mqtt_state(const std::string& device_id) {
  return write([&] { return SqliteCatalog::forget_device_mqtt_state(device_id); });
}

}  // namespace fp
