#include "cluster/carried_alert.h"

#include <simdjson.h>

#include <algorithm>

#include "cluster/kv_key.h"
#include "util/json_writer.h"

namespace fp::cluster {

std::string CarriedAlertKey(uint32_t partition, std::string_view rule_id,
                            std::string_view device_id) {
  return "a." + std::to_string(partition) + "." + KvHex(rule_id) + "." + KvHex(device_id);
}

std::string CarriedAlertKey(uint32_t partition, const Alert& a) {
  if (!a.rule_id.empty()) return CarriedAlertKey(partition, a.rule_id, a.device_id);
  return "a." + std::to_string(partition) + ".m." + std::to_string(a.id);
}

uint32_t PartitionOfAlertId(int64_t id, uint32_t partitions) {
  if (partitions == 0 || id < 0) return 0;
  return static_cast<uint32_t>(id % partitions);
}

int64_t ClusterAlertIds::Next(uint32_t partition, int64_t now_ms) {
  const int64_t want = now_ms * 16;
  int64_t k = last_k_.load();
  int64_t next = 0;
  do {
    next = std::max(k + 1, want);
  } while (!last_k_.compare_exchange_weak(k, next));
  return next * partitions_ + partition;
}

std::string EncodeCarriedAlert(const Alert& a) {
  JsonWriter w;
  w.begin_object();
  if (a.id > 0) w.field("id", a.id);
  w.field("rule_id", a.rule_id)
      .field("device_id", a.device_id)
      .field("severity", to_string(a.severity))
      .field("state", to_string(a.state))
      .field("message", a.message);
  if (a.value) w.field("value", *a.value);
  w.field("started_at", a.started_at_ms).field("condition_at", a.condition_at_ms);
  if (a.acknowledged_at_ms) w.field("acknowledged_at", *a.acknowledged_at_ms);
  w.field("acknowledged_by", a.acknowledged_by)
      .field("note", a.note)
      .field("updated_at", a.updated_at_ms)
      .field("version", a.version)
      .end_object();
  return w.take();
}

Result<Alert> DecodeCarriedAlert(std::string_view json) {
  simdjson::dom::parser p;
  simdjson::dom::object o;
  if (p.parse(json.data(), json.size()).get_object().get(o) != simdjson::SUCCESS)
    return Status::InvalidArgument("carried alert: not a JSON object");
  Alert a;
  std::string_view sv;
  auto str = [&](const char* k, std::string& out) {
    if (o[k].get_string().get(sv) != simdjson::SUCCESS) return false;
    out = sv;
    return true;
  };
  std::string severity, state;
  if (auto f = o["id"]; f.error() != simdjson::NO_SUCH_FIELD) {
    if (f.get_int64().get(a.id) != simdjson::SUCCESS || a.id <= 0)
      return Status::InvalidArgument("carried alert: id is not a positive integer");
  }
  if (!str("rule_id", a.rule_id) || !str("device_id", a.device_id) || !str("severity", severity) ||
      !str("state", state) || !str("message", a.message) ||
      !str("acknowledged_by", a.acknowledged_by) || !str("note", a.note))
    return Status::InvalidArgument("carried alert: a text field is missing");
  if (a.rule_id.empty() && a.id == 0)
    return Status::InvalidArgument("carried alert: a manual alert without an id");
  auto sev = parse_severity(severity);
  auto st = parse_alert_state(state);
  if (!sev || !st || *st == AlertState::kResolved)
    return Status::InvalidArgument("carried alert: bad severity or state");
  a.severity = *sev;
  a.state = *st;
  if (o["started_at"].get_int64().get(a.started_at_ms) != simdjson::SUCCESS ||
      o["condition_at"].get_int64().get(a.condition_at_ms) != simdjson::SUCCESS ||
      o["updated_at"].get_int64().get(a.updated_at_ms) != simdjson::SUCCESS ||
      o["version"].get_int64().get(a.version) != simdjson::SUCCESS || a.version < 1)
    return Status::InvalidArgument("carried alert: a time or the version is missing");
  double value = 0;
  if (auto f = o["value"]; f.error() != simdjson::NO_SUCH_FIELD) {
    if (f.get_double().get(value) != simdjson::SUCCESS)
      return Status::InvalidArgument("carried alert: value is not a number");
    a.value = value;
  }
  int64_t at = 0;
  if (auto f = o["acknowledged_at"]; f.error() != simdjson::NO_SUCH_FIELD) {
    if (f.get_int64().get(at) != simdjson::SUCCESS)
      return Status::InvalidArgument("carried alert: acknowledged_at is not a number");
    a.acknowledged_at_ms = at;
  }
  return a;
}

}  // namespace fp::cluster
