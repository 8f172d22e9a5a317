#pragma once
// A carried alert: an open alert of a partition as its owner writes it to the
// "fleetpulse_alerts" bucket, so that the partition's next owner continues it (alert_carry.h).
// JSON with the alert's own fields (times in ms); the node-local alert id is not carried (each
// node numbers its own alerts). The bucket is input from the network: the decoder checks every
// field and refuses what it does not understand.

#include <cstdint>
#include <string>
#include <string_view>

#include "model/alert.h"
#include "util/result.h"

namespace fp::cluster {

// {"rule_id","device_id","severity","state","message","value"?,"started_at","condition_at",
//  "acknowledged_at"?,"acknowledged_by","note","updated_at","version"}
std::string EncodeCarriedAlert(const Alert& a);
// kInvalidArgument for anything but an open rule alert in the form above.
Result<Alert> DecodeCarriedAlert(std::string_view json);

// The bucket key of an alert of `rule_id` for `device_id` in `partition`:
// `a.<partition>.<hex rule id>.<hex device id>`.
std::string CarriedAlertKey(uint32_t partition, std::string_view rule_id,
                            std::string_view device_id);

}  // namespace fp::cluster
