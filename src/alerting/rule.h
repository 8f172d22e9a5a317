#pragma once
// Rule: an alert rule as the API takes it and the catalog stores it (canonical JSON), with
// its validation. Field meanings are in docs/api-notes.md ("Alert rules").

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/alert.h"
#include "util/result.h"

namespace fp {

enum class RuleKind : uint8_t {
  kThreshold,   // metric op threshold
  kRange,       // metric outside [min, max]
  kRate,        // change of metric per `window`, op threshold
  kAbsence,     // no reading (of metric, or of anything) for `for`
  kOffline,     // device status offline (for at least `for`)
  kLowBattery,  // battery below threshold (default: the low-battery status threshold)
  kAnomaly,     // |z-score| against the series' own EWMA mean and deviation above threshold
  kStuck,       // metric unchanged (within tolerance) for `for`
};
std::string_view to_string(RuleKind k);
std::optional<RuleKind> parse_rule_kind(std::string_view s);

enum class CompareOp : uint8_t { kGt, kGe, kLt, kLe, kEq, kNe };
std::string_view to_string(CompareOp op);
std::optional<CompareOp> parse_compare_op(std::string_view s);
bool compare(double value, CompareOp op, double threshold);

// Which devices a rule watches. Every set field must match; nothing set means all devices.
struct RuleScope {
  std::optional<std::string> type;
  std::optional<std::string> location;
  std::vector<std::string> devices;  // empty: any device
  bool needs_device_facts() const { return type.has_value() || location.has_value(); }
};

struct Rule {
  std::string id;
  std::string name;
  RuleKind kind = RuleKind::kThreshold;
  std::string metric;  // empty only for absence (any report), offline and low_battery
  CompareOp op = CompareOp::kGt;
  std::optional<double> threshold;
  std::optional<double> min;
  std::optional<double> max;
  int64_t window_ms = 60'000;  // rate: the change is expressed per this window
  int64_t for_ms = 0;          // sustained for; required > 0 for absence and stuck
  double alpha = 0.1;          // anomaly: EWMA smoothing factor
  int min_samples = 10;        // anomaly: readings learned before it may fire
  double tolerance = 0;        // stuck: changes up to this count as "unchanged"
  Severity severity = Severity::kWarning;
  RuleScope scope;
  bool enabled = true;
  std::vector<std::string> webhooks;  // notify: [{"webhook":"http://..."}]
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

struct FieldError {
  std::string field;
  std::string message;
};

// Parses and validates a rule. `path_id`, when not empty, is the id from the URL (PUT): a body
// id must then match it. On failure returns kMalformed (not JSON) or kUnprocessable whose
// message lists every problem, which are also appended to `errors` when given.
Result<Rule> parse_rule(std::string_view json, std::string_view path_id,
                        std::vector<FieldError>* errors = nullptr);

// The rule as canonical JSON (what the API returns and the catalog stores).
std::string rule_to_json(const Rule& r);

// Webhook URLs: http://host[:port][/path]. Returns an error message or empty.
std::string validate_webhook_url(std::string_view url);

}  // namespace fp
