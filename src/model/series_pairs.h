#pragma once
// SeriesPairs: the series ids resolved for a batch's (device, metric) pairs before it reaches
// the commit thread. SeriesAdmission fills it while decoders build the batch (each pair is
// looked up in the store's index once per request); the Ingestor then gives every point its
// id from here instead of looking the pair up again. One flat open-addressing table (two
// vectors): cheap to probe, freed in one go.
//
// Keys are packed batch indexes (device << 32 | metric); a value of kUnresolved means "admitted
// as a new series" (the commit thread creates it). The ids hold while the index's removals()
// counter equals `generation` (read before the first lookup).
//
// Not thread-safe; it travels with its ReadingBatch.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace fp {

class SeriesPairs {
 public:
  static constexpr uint32_t kUnresolved = UINT32_MAX;  // same as tsdb::kNoSeries

  static uint64_t key(uint32_t device, uint32_t metric) {
    return (static_cast<uint64_t>(device) << 32) | metric;
  }

  // The id stored for the pair (kUnresolved for a new series), or nullptr when the pair was
  // never stored.
  const uint32_t* find(uint64_t key) const {
    if (size_ == 0) return nullptr;
    for (size_t i = slot(key);; i = (i + 1) & (keys_.size() - 1)) {
      if (keys_[i] == key) return &ids_[i];
      if (keys_[i] == kEmpty) return nullptr;
    }
  }
  // Stores (or replaces) the pair's id.
  void put(uint64_t key, uint32_t id) {
    if ((size_ + 1) * 2 > keys_.size()) grow();
    for (size_t i = slot(key);; i = (i + 1) & (keys_.size() - 1)) {
      if (keys_[i] == key) {
        ids_[i] = id;
        return;
      }
      if (keys_[i] == kEmpty) {
        keys_[i] = key;
        ids_[i] = id;
        ++size_;
        return;
      }
    }
  }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void clear() {
    keys_.clear();
    ids_.clear();
    size_ = 0;
    generation = 0;
  }

  uint64_t generation = 0;  // the index's removals() before the first lookup

 private:
  static constexpr uint64_t kEmpty = UINT64_MAX;  // never a key: batch indexes stay below 2^32-1

  size_t slot(uint64_t key) const {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ULL) >> 32) & (keys_.size() - 1);
  }
  void grow() {
    std::vector<uint64_t> keys = std::move(keys_);
    std::vector<uint32_t> ids = std::move(ids_);
    const size_t cap = keys.empty() ? 64 : keys.size() * 2;
    keys_.assign(cap, kEmpty);
    ids_.assign(cap, 0);
    size_ = 0;
    for (size_t i = 0; i < keys.size(); ++i)
      if (keys[i] != kEmpty) put(keys[i], ids[i]);
  }

  std::vector<uint64_t> keys_;
  std::vector<uint32_t> ids_;
  size_t size_ = 0;
};

}  // namespace fp
