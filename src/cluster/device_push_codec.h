#pragma once
// The messages of the device push relay (device_push_relay.h) on core NATS subjects: a config
// change or a command for one device, sent by the node that handled the API call to every
// node, and a node's answer that it delivered a command. Not stored anywhere (core NATS).
//
// Format (version 1), all integers big-endian:
//   push:   'P' 0x01 kind(1: 'C' config | 'K' command) then three fields, each
//           u32 length + bytes: origin node id, device id, payload (config JSON / command body)
//   answer: 'A' 0x01 i64 command_id, u64 delivered_to, i64 expires_at_ms, then u32 length +
//           the answering node's id
// A decoder refuses anything else (wrong tag, version, kind, a length past the end, trailing
// bytes) with kMalformed, never reads past the input.

#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.h"

namespace fp::cluster {

struct DevicePush {
  enum class Kind : char { kConfig = 'C', kCommand = 'K' };
  Kind kind = Kind::kConfig;
  std::string origin;  // node id of the sender (a node ignores its own pushes)
  std::string device_id;
  std::string payload;  // config JSON object text, or the command's body
};

// What the node holding the device's connection did with a command (mqtt CommandOutcome).
struct CommandDelivery {
  int64_t command_id = 0;
  uint64_t delivered_to = 0;
  int64_t expires_at_ms = 0;
  std::string node;  // the answering node's id
};

std::string EncodeDevicePush(const DevicePush& p);
Result<DevicePush> DecodeDevicePush(std::string_view bytes);
std::string EncodeCommandDelivery(const CommandDelivery& d);
Result<CommandDelivery> DecodeCommandDelivery(std::string_view bytes);

}  // namespace fp::cluster
