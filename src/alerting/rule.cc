#include "alerting/rule.h"

#include <cmath>

#include "alerting/webhook_client.h"
#include "ingest/json_input.h"
#include "model/device.h"
#include "model/reading_batch.h"
#include "model/time_format.h"
#include "util/json_writer.h"

namespace fp {
namespace {

constexpr std::string_view kKindNames[] = {"threshold", "range",       "rate",    "absence",
                                           "offline",   "low_battery", "anomaly", "stuck"};
constexpr std::string_view kOpNames[] = {">", ">=", "<", "<=", "==", "!="};

bool kind_needs_metric(RuleKind k) {
  return k == RuleKind::kThreshold || k == RuleKind::kRange || k == RuleKind::kRate ||
         k == RuleKind::kAnomaly || k == RuleKind::kStuck;
}

// Collects field errors while a rule is read.
class RuleReader {
 public:
  RuleReader(simdjson::dom::object obj, std::vector<FieldError>& errors)
      : obj_(obj), errors_(errors) {}

  void fail(std::string field, std::string message) {
    errors_.push_back({std::move(field), std::move(message)});
  }

  std::optional<std::string> string(std::string_view key) {
    auto v = optional_string(obj_, key);
    if (!v.ok()) return fail(std::string(key), "must be a string"), std::nullopt;
    return *v;
  }
  std::optional<double> number(std::string_view key) {
    auto v = optional_number(obj_, key);
    if (!v.ok()) return fail(std::string(key), "must be a number"), std::nullopt;
    return *v;
  }
  std::optional<int64_t> duration(std::string_view key) {
    simdjson::dom::element el;
    if (obj_.at_key(key).get(el) || el.is_null()) return std::nullopt;
    std::string_view text;
    double seconds;
    if (!el.get_string().get(text)) {
      if (auto ms = parse_duration_ms(text)) return ms;
    } else if (el.is_number() && !el.get_double().get(seconds) && seconds >= 0 && seconds < 1e12) {
      return static_cast<int64_t>(std::llround(seconds * 1000));
    }
    fail(std::string(key), "must be a duration such as \"30s\", \"5m\" or \"1h\"");
    return std::nullopt;
  }
  std::optional<bool> boolean(std::string_view key) {
    simdjson::dom::element el;
    if (obj_.at_key(key).get(el) || el.is_null()) return std::nullopt;
    bool b;
    if (el.get_bool().get(b)) return fail(std::string(key), "must be true or false"), std::nullopt;
    return b;
  }
  simdjson::dom::object obj() const { return obj_; }

 private:
  simdjson::dom::object obj_;
  std::vector<FieldError>& errors_;
};

void read_scope(RuleReader& in, Rule& r) {
  simdjson::dom::element el;
  if (in.obj().at_key("scope").get(el) || el.is_null()) return;
  std::string_view text;
  if (!el.get_string().get(text)) {
    if (text != "all") in.fail("scope", "must be \"all\" or an object {type, location, devices}");
    return;
  }
  simdjson::dom::object scope;
  if (el.get_object().get(scope))
    return in.fail("scope", "must be \"all\" or an object {type, location, devices}");
  for (auto [key, value] : scope) {
    if (key == "type" || key == "location") {
      std::string_view s;
      if (value.get_string().get(s) || s.empty()) {
        in.fail("scope." + std::string(key), "must be a non-empty string");
        continue;
      }
      (key == "type" ? r.scope.type : r.scope.location) = std::string(s);
    } else if (key == "devices" || key == "device_ids") {
      simdjson::dom::array list;
      if (value.get_array().get(list)) {
        in.fail("scope.devices", "must be an array of device ids");
        continue;
      }
      for (auto item : list) {
        std::string_view id;
        if (item.get_string().get(id) || !validate_device_id(id).empty()) {
          in.fail("scope.devices", "must be an array of valid device ids");
          break;
        }
        r.scope.devices.emplace_back(id);
      }
    } else if (key != "all") {
      in.fail("scope." + std::string(key), "is not a scope field (type, location, devices)");
    }
  }
}

void read_notify(RuleReader& in, Rule& r) {
  simdjson::dom::element el;
  if (in.obj().at_key("notify").get(el) || el.is_null()) return;
  simdjson::dom::array list;
  if (el.get_array().get(list))
    return in.fail("notify", "must be an array of {\"webhook\":\"http://...\"}");
  size_t i = 0;
  for (auto item : list) {
    const std::string field = "notify[" + std::to_string(i++) + "].webhook";
    std::string_view url;
    simdjson::dom::object target;
    if (!item.get_object().get(target)) {
      if (target.at_key("webhook").get_string().get(url))
        return in.fail(field, "is required: a URL string");
    } else if (item.get_string().get(url)) {
      return in.fail(field, "is required: a URL string");
    }
    if (std::string why = validate_webhook_url(url); !why.empty()) return in.fail(field, why);
    r.webhooks.emplace_back(url);
  }
}

void validate_kind_fields(RuleReader& in, Rule& r) {
  if (kind_needs_metric(r.kind) && r.metric.empty())
    in.fail("metric", "is required for a " + std::string(to_string(r.kind)) + " rule");
  switch (r.kind) {
    case RuleKind::kThreshold:
    case RuleKind::kRate:
      if (!r.threshold)
        in.fail("threshold", "is required for a " + std::string(to_string(r.kind)) + " rule");
      if (r.kind == RuleKind::kRate && r.window_ms <= 0) in.fail("window", "must be positive");
      break;
    case RuleKind::kRange:
      if (!r.min && !r.max) in.fail("min", "min or max (or both) is required for a range rule");
      if (r.min && r.max && *r.min > *r.max) in.fail("min", "must not be greater than max");
      break;
    case RuleKind::kAbsence:
    case RuleKind::kStuck:
      if (r.for_ms <= 0)
        in.fail("for", "is required (a positive duration) for a " + std::string(to_string(r.kind)) +
                           " rule");
      break;
    case RuleKind::kLowBattery:
      if (r.threshold && (*r.threshold < 0 || *r.threshold > 100))
        in.fail("threshold", "must be a percentage from 0 to 100");
      break;
    case RuleKind::kAnomaly:
      if (r.threshold && *r.threshold <= 0) in.fail("threshold", "must be a positive z-score");
      if (r.alpha <= 0 || r.alpha >= 1) in.fail("alpha", "must lie between 0 and 1 (exclusive)");
      if (r.min_samples < 2 || r.min_samples > 100000)
        in.fail("min_samples", "must be a whole number from 2 to 100000");
      break;
    case RuleKind::kOffline:
      break;
  }
  if (r.tolerance < 0) in.fail("tolerance", "must not be negative");
}

}  // namespace

std::string_view to_string(RuleKind k) {
  return kKindNames[static_cast<size_t>(k)];
}

std::optional<RuleKind> parse_rule_kind(std::string_view s) {
  for (size_t i = 0; i < std::size(kKindNames); ++i)
    if (kKindNames[i] == s) return static_cast<RuleKind>(i);
  return std::nullopt;
}

std::string_view to_string(CompareOp op) {
  return kOpNames[static_cast<size_t>(op)];
}

std::optional<CompareOp> parse_compare_op(std::string_view s) {
  for (size_t i = 0; i < std::size(kOpNames); ++i)
    if (kOpNames[i] == s) return static_cast<CompareOp>(i);
  if (s == "=") return CompareOp::kEq;
  return std::nullopt;
}

bool compare(double value, CompareOp op, double threshold) {
  switch (op) {
    case CompareOp::kGt:
      return value > threshold;
    case CompareOp::kGe:
      return value >= threshold;
    case CompareOp::kLt:
      return value < threshold;
    case CompareOp::kLe:
      return value <= threshold;
    case CompareOp::kEq:
      return value == threshold;
    case CompareOp::kNe:
      return value != threshold;
  }
  return false;
}

std::string validate_webhook_url(std::string_view url) {
  return webhook_url_problem(url);
}

Result<Rule> parse_rule(std::string_view json, std::string_view path_id,
                        std::vector<FieldError>* errors_out) {
  FP_ASSIGN_OR_RETURN(simdjson::dom::element root, parse_json(json));
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) return Status::Unprocessable("the rule must be a JSON object");
  std::vector<FieldError> errors;
  RuleReader in(obj, errors);
  Rule r;

  if (auto id = in.string("id")) r.id = *id;
  if (!path_id.empty()) {
    if (!r.id.empty() && r.id != path_id) in.fail("id", "must match the id in the URL");
    r.id = std::string(path_id);
  }
  if (!r.id.empty())
    if (std::string why = validate_device_id(r.id); !why.empty())
      in.fail("id", "must be 1..128 characters of A-Z a-z 0-9 . _ : -");
  if (auto name = in.string("name")) r.name = *name;
  if (r.name.size() > 200) in.fail("name", "must be at most 200 characters");

  auto kind_text = in.string("kind");
  if (!kind_text) {
    in.fail("kind",
            "is required: threshold, range, rate, absence, offline, low_battery, anomaly or stuck");
  } else if (auto kind = parse_rule_kind(*kind_text)) {
    r.kind = *kind;
  } else {
    in.fail("kind",
            "must be threshold, range, rate, absence, offline, low_battery, anomaly or "
            "stuck, not '" +
                *kind_text + "'");
  }
  if (auto metric = in.string("metric")) {
    r.metric = *metric;
    if (std::string why = validate_metric_name(r.metric); !why.empty()) in.fail("metric", why);
  }
  if (auto op_text = in.string("op")) {
    if (auto op = parse_compare_op(*op_text))
      r.op = *op;
    else
      in.fail("op", "must be one of >, >=, <, <=, ==, !=");
  }
  r.threshold = in.number("threshold");
  r.min = in.number("min");
  r.max = in.number("max");
  if (auto w = in.duration("window")) r.window_ms = *w;
  if (auto f = in.duration("for")) r.for_ms = *f;
  if (auto a = in.number("alpha")) r.alpha = *a;
  if (auto n = in.number("min_samples")) {
    if (*n != std::floor(*n) || *n < 0 || *n > 1e9)
      in.fail("min_samples", "must be a whole number from 2 to 100000");
    else
      r.min_samples = static_cast<int>(*n);
  }
  if (auto t = in.number("tolerance")) r.tolerance = *t;
  if (auto sev_text = in.string("severity")) {
    if (auto sev = parse_severity(*sev_text))
      r.severity = *sev;
    else
      in.fail("severity", "must be info, warning or critical");
  }
  if (auto enabled = in.boolean("enabled")) r.enabled = *enabled;
  read_scope(in, r);
  read_notify(in, r);
  if (errors.empty()) validate_kind_fields(in, r);
  if (r.name.empty()) r.name = r.id;

  if (errors.empty()) return r;
  std::string message = "invalid rule:";
  for (size_t i = 0; i < errors.size(); ++i)
    message += (i ? "; " : " ") + errors[i].field + " " + errors[i].message;
  if (errors_out) errors_out->insert(errors_out->end(), errors.begin(), errors.end());
  return Status::Unprocessable(message);
}

std::string rule_to_json(const Rule& r) {
  JsonWriter w;
  w.begin_object().field("id", r.id).field("name", r.name).field("kind", to_string(r.kind));
  if (!r.metric.empty()) w.field("metric", r.metric);
  if (r.kind == RuleKind::kThreshold || r.kind == RuleKind::kRate) w.field("op", to_string(r.op));
  if (r.threshold) w.field("threshold", *r.threshold);
  if (r.min) w.field("min", *r.min);
  if (r.max) w.field("max", *r.max);
  if (r.kind == RuleKind::kRate) w.field("window", format_duration(r.window_ms));
  w.field("for", format_duration(r.for_ms));
  if (r.kind == RuleKind::kAnomaly) w.field("alpha", r.alpha).field("min_samples", r.min_samples);
  if (r.kind == RuleKind::kStuck) w.field("tolerance", r.tolerance);
  w.field("severity", to_string(r.severity));
  w.key("scope").begin_object();
  if (r.scope.type) w.field("type", *r.scope.type);
  if (r.scope.location) w.field("location", *r.scope.location);
  if (!r.scope.devices.empty()) {
    w.key("devices").begin_array();
    for (const auto& d : r.scope.devices) w.value(d);
    w.end_array();
  }
  w.end_object();
  w.field("enabled", r.enabled);
  w.key("notify").begin_array();
  for (const auto& url : r.webhooks) w.begin_object().field("webhook", url).end_object();
  w.end_array();
  if (r.created_at_ms) w.field("created_at", format_rfc3339(r.created_at_ms));
  if (r.updated_at_ms) w.field("updated_at", format_rfc3339(r.updated_at_ms));
  w.end_object();
  return w.take();
}

}  // namespace fp
