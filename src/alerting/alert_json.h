#pragma once
// The JSON form of an alert, shared by the API, the live stream and webhook bodies.

#include <string>

#include "model/alert.h"
#include "util/json_writer.h"

namespace fp {

// {"id","rule_id","device_id","severity","state","message","value","started_at",
//  "acknowledged_at","acknowledged_by","note","resolved_at","resolved_by","updated_at"}
void write_alert(JsonWriter& w, const Alert& a);
std::string alert_to_json(const Alert& a);

}  // namespace fp
