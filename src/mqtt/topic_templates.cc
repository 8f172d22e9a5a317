#include "mqtt/topic_templates.h"

#include "model/device.h"

namespace fp::mqtt {
namespace {

constexpr std::string_view kDeviceLevel = "{device_id}";

std::vector<std::string> split_levels(std::string_view topic) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t slash = topic.find('/', start);
    out.emplace_back(topic.substr(start, slash - start));
    if (slash == std::string_view::npos) return out;
    start = slash + 1;
  }
}

}  // namespace

std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string_view::npos) comma = s.size();
    std::string_view item = s.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    start = comma + 1;
  }
  return out;
}

Result<TopicTemplates> TopicTemplates::parse(const std::vector<std::string>& telemetry,
                                             const std::vector<std::string>& heartbeat) {
  TopicTemplates t;
  for (const auto* list : {&telemetry, &heartbeat}) {
    for (const std::string& text : *list) {
      Template tpl{split_levels(text),
                   list == &telemetry ? MessageKind::kTelemetry : MessageKind::kHeartbeat};
      int device_levels = 0;
      for (const auto& level : tpl.levels) {
        if (level == kDeviceLevel) ++device_levels;
        if (level.empty() || level.find_first_of("+#") != std::string::npos)
          return Status::InvalidArgument("topic template '" + text +
                                         "' has an empty level or a wildcard");
      }
      if (device_levels != 1)
        return Status::InvalidArgument("topic template '" + text +
                                       "' needs exactly one level {device_id}");
      t.templates_.push_back(std::move(tpl));
    }
  }
  return t;
}

TopicTemplates TopicTemplates::defaults() {
  return *parse({"devices/{device_id}/telemetry", "iot/{device_id}/telemetry"},
                {"devices/{device_id}/heartbeat"});
}

std::optional<TopicMatch> TopicTemplates::match(std::string_view topic) const {
  // Level by level in place (one call per PUBLISH: nothing is allocated until it matches).
  constexpr size_t kPastEnd = std::string_view::npos;
  for (const Template& t : templates_) {
    std::string_view device;
    size_t start = 0;  // of the next level; kPastEnd once the last one was read
    bool equal = true;
    for (size_t i = 0; i < t.levels.size() && equal; ++i) {
      if (start == kPastEnd) {  // the topic has fewer levels
        equal = false;
        break;
      }
      const size_t slash = topic.find('/', start);
      const std::string_view level =
          topic.substr(start, slash == std::string_view::npos ? slash : slash - start);
      start = slash == std::string_view::npos ? kPastEnd : slash + 1;
      if (t.levels[i] == kDeviceLevel)
        device = level;
      else
        equal = t.levels[i] == level;
    }
    if (equal && start == kPastEnd && validate_device_id(device).empty())
      return TopicMatch{std::string(device), t.kind};
  }
  return std::nullopt;
}

std::vector<std::string> TopicTemplates::filters(MessageKind kind,
                                                 std::string_view device_level) const {
  std::vector<std::string> out;
  for (const Template& t : templates_) {
    if (t.kind != kind) continue;
    std::string f;
    for (size_t i = 0; i < t.levels.size(); ++i) {
      if (i) f += '/';
      f += t.levels[i] == kDeviceLevel ? std::string(device_level) : t.levels[i];
    }
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace fp::mqtt
