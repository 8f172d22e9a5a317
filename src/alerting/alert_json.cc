#include "alerting/alert_json.h"

#include "model/time_format.h"

namespace fp {
namespace {

void optional_time(JsonWriter& w, std::string_view key, const std::optional<int64_t>& ms) {
  w.key(key);
  if (ms)
    w.value(format_rfc3339(*ms));
  else
    w.null();
}

void optional_text(JsonWriter& w, std::string_view key, const std::string& s) {
  w.key(key);
  if (s.empty())
    w.null();
  else
    w.value(s);
}

}  // namespace

void write_alert(JsonWriter& w, const Alert& a) {
  w.begin_object().field("id", std::to_string(a.id));
  optional_text(w, "rule_id", a.rule_id);
  w.field("device_id", a.device_id).field("severity", to_string(a.severity));
  w.field("state", to_string(a.state)).field("message", a.message).field("value", a.value);
  w.field("started_at", format_rfc3339(a.started_at_ms));
  w.field("condition_at",
          format_rfc3339(a.condition_at_ms != 0 ? a.condition_at_ms : a.started_at_ms));
  optional_time(w, "acknowledged_at", a.acknowledged_at_ms);
  optional_text(w, "acknowledged_by", a.acknowledged_by);
  optional_text(w, "note", a.note);
  optional_time(w, "resolved_at", a.resolved_at_ms);
  optional_text(w, "resolved_by", a.resolved_by);
  w.field("updated_at", format_rfc3339(a.updated_at_ms));
  w.end_object();
}

std::string alert_to_json(const Alert& a) {
  JsonWriter w;
  write_alert(w, a);
  return w.take();
}

}  // namespace fp
