// Fuzzes the MQTT packet decoder: any byte stream, read frame by frame as a connection does,
// must decode or be refused with a reason code, never crash or read out of bounds. Every
// decoded PUBLISH must survive an encode/decode round trip unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "mqtt/packet_decoder.h"
#include "mqtt/packet_encoder.h"

using namespace fp::mqtt;

namespace {

void decode_one(Version v, const FrameHeader& h, std::span<const uint8_t> body) {
  switch (h.type) {
    case PacketType::kConnect: {
      Connect c;
      decode_connect(h.flags, body, c);
      break;
    }
    case PacketType::kPublish: {
      Publish p;
      if (decode_publish(v, h.flags, body, p).ok()) {
        const std::string again = encode_publish(v, p);
        FrameHeader h2;
        const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(again.data()),
                                             again.size());
        if (read_frame_header(bytes, SIZE_MAX, h2) != FrameStatus::kComplete) abort();
        Publish q;
        if (!decode_publish(v, h2.flags, bytes.subspan(h2.header_bytes), q).ok()) abort();
        if (q.topic != p.topic || q.payload != p.payload || q.qos != p.qos ||
            q.packet_id != p.packet_id || q.retain != p.retain || q.dup != p.dup)
          abort();
      }
      break;
    }
    case PacketType::kPuback:
    case PacketType::kPubrec:
    case PacketType::kPubrel:
    case PacketType::kPubcomp: {
      Ack a;
      decode_ack(v, h.type, h.flags, body, a);
      break;
    }
    case PacketType::kSubscribe: {
      Subscribe s;
      decode_subscribe(v, h.flags, body, s);
      break;
    }
    case PacketType::kUnsubscribe: {
      Unsubscribe u;
      decode_unsubscribe(v, h.flags, body, u);
      break;
    }
    case PacketType::kPingreq:
      decode_pingreq(h.flags, body);
      break;
    case PacketType::kDisconnect: {
      Disconnect d;
      decode_disconnect(v, h.flags, body, d);
      break;
    }
    default:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (Version v : {Version::kV311, Version::kV5}) {
    std::span<const uint8_t> rest(data, size);
    while (!rest.empty()) {
      FrameHeader h;
      if (read_frame_header(rest, 1 << 20, h) != FrameStatus::kComplete) break;
      if (h.total() > rest.size()) abort();
      decode_one(v, h, rest.subspan(h.header_bytes, h.remaining));
      rest = rest.subspan(h.total());
    }
  }
  return 0;
}
