#pragma once
// What the catalog stores for alerting (schema v2 "alerts" migration): rules as JSON documents,
// alerts with their lifecycle, and webhook deliveries that gave up (dead letters).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/alert.h"

namespace fp {

// An alert rule, stored as its canonical JSON (alerting/rule.h parses and validates it).
struct RuleRecord {
  std::string id;
  std::string json;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

struct AlertQuery {
  std::optional<AlertState> state;
  std::optional<Severity> severity;
  std::optional<std::string> device_id;
  std::optional<int64_t> since_ms;   // alerts started at or after this time
  std::optional<int64_t> before_id;  // keyset cursor: only alerts with a smaller id
  int limit = 100;                   // newest first
};

struct AlertPage {
  std::vector<Alert> alerts;           // newest (highest id) first
  std::optional<int64_t> next_before;  // pass as before_id for the next page
};

// A webhook delivery that failed every attempt.
struct DeadLetter {
  int64_t id = 0;  // assigned by the catalog when 0
  int64_t alert_id = 0;
  std::string rule_id;
  std::string url;
  std::string payload;  // the JSON body that was being delivered
  int attempts = 0;
  std::string last_error;
  int64_t created_at_ms = 0;  // when the first attempt was made
  int64_t failed_at_ms = 0;   // when the last attempt failed
};

// A webhook delivery waiting for its (next) attempt (schema v5 "webhook_queue"): stored in
// the same transaction as the alert change it announces, deleted once delivered or moved to
// the dead letters, so a restart or a crash resumes it.
struct WebhookDelivery {
  int64_t id = 0;  // assigned by the catalog when stored
  int64_t alert_id = 0;
  std::string rule_id;
  std::string url;
  std::string payload;
  int attempts = 0;  // failed attempts so far
  std::string last_error;
  int64_t created_at_ms = 0;
  int64_t first_attempt_ms = 0;  // 0 before the first attempt
  int64_t next_attempt_ms = 0;   // wall-clock time the next attempt is due
};

}  // namespace fp
