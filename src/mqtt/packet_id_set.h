#pragma once
// PacketIdSet: the packet ids of a connection's outbound QoS 1 messages awaiting PUBACK. A
// std::set on the heap once there is one: most connections (devices) never receive a QoS 1
// message, and an empty std::set costs 48 bytes in each of them, this 8.
//
// Thread safety: none; used on its connection's strand.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>

namespace fp::mqtt {

class PacketIdSet {
 public:
  size_t size() const { return ids_ ? ids_->size() : 0; }
  size_t count(uint16_t id) const { return ids_ ? ids_->count(id) : 0; }
  void insert(uint16_t id) {
    if (!ids_) ids_ = std::make_unique<std::set<uint16_t>>();
    ids_->insert(id);
  }
  void erase(uint16_t id) {
    if (ids_) ids_->erase(id);
  }

 private:
  std::unique_ptr<std::set<uint16_t>> ids_;
};

}  // namespace fp::mqtt
