#pragma once
// TopicTemplates: which PUBLISH topics carry what. A template is a topic with exactly one
// level "{device_id}", e.g. "devices/{device_id}/telemetry"; a topic matches when every other
// level is equal and the device level is a valid device id. Defaults (API.md):
// devices/{device_id}/telemetry, iot/{device_id}/telemetry (telemetry, any JSON reading form)
// and devices/{device_id}/heartbeat (heartbeats).
//
// Immutable after construction; safe on any thread.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace fp::mqtt {

enum class MessageKind { kTelemetry, kHeartbeat };

struct TopicMatch {
  std::string device_id;
  MessageKind kind = MessageKind::kTelemetry;
};

class TopicTemplates {
 public:
  // kInvalidArgument naming the template when one has no (or two) {device_id} levels, a
  // wildcard, or an empty level.
  static Result<TopicTemplates> parse(const std::vector<std::string>& telemetry,
                                      const std::vector<std::string>& heartbeat);
  static TopicTemplates defaults();

  std::optional<TopicMatch> match(std::string_view topic) const;
  // The topics of `kind` for one device, e.g. for subscribing in bridge mode with '+'.
  std::vector<std::string> filters(MessageKind kind, std::string_view device_level) const;

 private:
  struct Template {
    std::vector<std::string> levels;  // "{device_id}" marks the device level
    MessageKind kind;
  };
  std::vector<Template> templates_;
};

// "a,b , c" -> {"a","b","c"} (empty items dropped).
std::vector<std::string> split_list(std::string_view s);

}  // namespace fp::mqtt
